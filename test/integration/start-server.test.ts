import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../../src/config.ts';
import {
  defineTool,
  InvalidToolError,
  startServer,
  type ServerHandle,
  type Planner,
  type ToolContext,
  type ToolDefinition,
} from '../../src/index.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';
import { createSession } from '../support/test-app.ts';
import { connect } from '../support/ws-client.ts';

/** A refund tool that records every run, and a tool that waits until it is cancelled. */
function customTools() {
  const refunds: Array<{ order_id: string; amount: number; callId: string }> = [];
  const aborted: string[] = [];
  const refund = defineTool({
    name: 'refund',
    description: 'Refunds an order.',
    args: z.object({ order_id: z.string(), amount: z.number().positive() }),
    needsApproval: true,
    idempotent: false,
    run: (args, { callId }) => {
      refunds.push({ ...args, callId });
      return Promise.resolve({ refunded: args.amount });
    },
  });
  const wait = defineTool({
    name: 'wait_for_webhook',
    description: 'Waits until cancelled.',
    args: z.object({}),
    needsApproval: false,
    idempotent: true,
    run: (_args, { signal, callId }: ToolContext) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted.push(callId);
          reject(new Error('aborted'));
        });
      }),
  });
  return { tools: [refund, wait], refunds, aborted };
}

describe('startServer', () => {
  let db: TestStore;
  let server: ServerHandle;
  const custom = customTools();

  beforeAll(async () => {
    db = await openTestStore('pglite');
    server = await startServer({
      tools: custom.tools,
      store: db.store,
      port: 0,
      logLevel: 'silent',
    });
  });
  afterAll(async () => {
    await server?.close();
    await db?.dispose();
  });

  it('resolves with the url, the port and close, nothing else', () => {
    expect(Object.keys(server).sort()).toEqual(['close', 'port', 'url']);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);
  });

  it('runs a custom tool through approval, once', async () => {
    const socket = await connect(server, { session_id: await createSession(server) });
    const args = { order_id: 'A-17', amount: 42 };
    socket.send({ type: 'execute', command: 'refund A-17', plan: [{ tool: 'refund', args }] });
    const required = await socket.waitFor('approval_required');
    expect(required.data).toMatchObject({
      tool: 'refund',
      args,
      reason: 'refund always needs approval',
    });
    expect(custom.refunds).toEqual([]);
    socket.send({ type: 'approve', request_id: required.data.request_id });
    const result = await socket.waitFor('tool_result');
    expect(result.data).toMatchObject({ tool: 'refund', result: { refunded: 42 } });
    await socket.waitFor('complete');
    expect(custom.refunds).toEqual([{ ...args, callId: required.data.call_id }]);
    await socket.close();
  });

  it('offers exactly the tools it was given: no built-in echo', async () => {
    const socket = await connect(server, { session_id: await createSession(server) });
    socket.send({ type: 'execute', command: 'x', plan: [{ tool: 'echo', args: { text: 'hi' } }] });
    const error = await socket.waitFor('error');
    expect(error.data).toMatchObject({ code: 'tool_failed', message: 'unknown tool "echo"' });
    await socket.close();
  });

  it('aborts a custom tool on cancel', async () => {
    const socket = await connect(server, { session_id: await createSession(server) });
    socket.send({ type: 'execute', command: 'w', plan: [{ tool: 'wait_for_webhook', args: {} }] });
    const call = await socket.waitFor('tool_call');
    socket.send({ type: 'cancel' });
    await socket.waitFor('cancelled');
    await expect.poll(() => custom.aborted).toEqual([call.data.call_id]);
    await socket.close();
  });
});

describe('startServer refuses to start', () => {
  const tool = customTools().tools[0]!;
  const dataDir = join(tmpdir(), `hitl-never-opened-${process.pid}`);

  async function refusal(options: Parameters<typeof startServer>[0]): Promise<Error> {
    const error = await startServer({ port: 0, logLevel: 'silent', dataDir, ...options }).then(
      async (started) => {
        await started.close();
        throw new Error('it started');
      },
      (e: unknown) => e as Error,
    );
    expect(existsSync(dataDir)).toBe(false);
    return error;
  }

  it.each([
    ['an invalid name', [{ ...tool, name: 'refund order' }], 'tool "refund order": the name'],
    ['a duplicate name', [tool, tool], 'tool "refund": the name is used by another tool'],
    ['args that are no object', [{ ...tool, args: z.string() }], 'tool "refund": args must be'],
    [
      'args JSON Schema cannot express',
      [{ ...tool, args: z.object({ at: z.date() }) }],
      'tool "refund": args cannot be converted to JSON Schema',
    ],
  ])('with %s, naming the tool, before opening a store', async (_case, tools, message) => {
    const error = await refusal({ tools: tools as ToolDefinition[] });
    expect(error).toBeInstanceOf(InvalidToolError);
    expect(error).toMatchObject({ code: 'invalid_tool', tool: expect.stringContaining('"') });
    expect(error.message).toContain(message);
  });

  it('with a bad option, naming it', async () => {
    const port = await refusal({ port: -1 });
    expect(port).toBeInstanceOf(ConfigError);
    expect(port.message).toMatch(/port: /);
    const jwt = await refusal({ auth: { mode: 'jwt' } });
    expect(jwt.message).toContain('auth.mode: jwt auth needs a secret, a jwks or a jwksUrl');
    const short = await refusal({ auth: { mode: 'jwt', secret: 'short' } });
    expect(short.message).toContain('auth.secret: must be at least 32 characters');
    const single = await refusal({ tools: tool as unknown as ToolDefinition[] });
    expect(single.message).toContain('tools: must be an array of tools');
    const planner = await refusal({ planner: {} as Planner });
    expect(planner.message).toContain('planner: must have a next() method');
  });
});
