import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  isToolOutcomeUnknown,
  type ApprovalRequest,
  type ToolInput,
} from '../../machines/session.types.ts';
import { createBuiltinTools } from '../agent/builtin-tools.ts';
import { createLedger } from '../agent/ledger.ts';
import { createToolRegistry } from '../agent/tool-registry.ts';
import { defineTool, type ToolContext } from '../agent/tool.ts';
import { AppError } from '../errors.ts';
import { createMemoryStore } from '../store/memory-store.ts';
import { runToolCall } from './tool-runner.ts';

const transferArgs = { to: 'alice', amount: 250, currency: 'USD' };

function setup() {
  const ledger = createLedger();
  const store = createMemoryStore();
  const registry = createToolRegistry(createBuiltinTools(ledger));
  const approvalFor = (call: Omit<ApprovalRequest, 'request_id' | 'expires_at'>) => ({
    ...call,
    request_id: 'req_new',
    expires_at: '2030-01-01T00:00:00.000Z',
  });
  const deps = { registry, store, approvalFor };
  const signal = new AbortController().signal;
  const input = (tool = 'transfer', args: Record<string, unknown> = transferArgs): ToolInput => ({
    session_id: 'ses_1',
    execution_id: 'exec_1',
    call: { call_id: 'call_1', tool, args },
    depth: 0,
  });
  const run = (toolInput = input()) => runToolCall(deps, toolInput, signal);
  return { ledger, store, run, input };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('runToolCall for a non-idempotent tool', () => {
  it('runs a fresh call once and records its start and result', async () => {
    const { ledger, store, run } = setup();
    const result = await run();
    expect(result).toMatchObject({ to: 'alice', amount: 250, to_balance: 1_250 });
    expect(ledger.transfers()).toBe(1);
    expect(await store.getToolOutcome('call_1')).toEqual({
      status: 'succeeded',
      call_id: 'call_1',
      tool: 'transfer',
      result,
    });
    // Run again with the same call id (a restored session): the recorded result, no new transfer.
    expect(await run()).toEqual(result);
    expect(ledger.transfers()).toBe(1);
  });

  it('returns a recorded success without running the tool', async () => {
    const { ledger, store, run } = setup();
    const recorded = { from: 'operating', to: 'alice', amount: 250, note: 'recorded' };
    await store.recordToolOutcome({
      status: 'succeeded',
      call_id: 'call_1',
      tool: 'transfer',
      result: recorded,
    });
    expect(await run()).toEqual(recorded);
    expect(ledger.transfers()).toBe(0);
    expect(ledger.balance('alice')).toBe(1_000);
  });

  it('rethrows a recorded failure without running the tool', async () => {
    const { ledger, store, run } = setup();
    await store.recordToolOutcome({
      status: 'failed',
      call_id: 'call_1',
      tool: 'transfer',
      error: 'insufficient funds last time',
    });
    const error = await rejectionOf(run());
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'tool_error', message: 'insufficient funds last time' });
    expect(ledger.transfers()).toBe(0);
  });

  it('sends a call that started but never finished back to a human, under a new call id', async () => {
    const { ledger, store, run } = setup();
    await store.recordToolStart(
      { status: 'started', call_id: 'call_1', tool: 'transfer', args: transferArgs },
      'ses_1',
    );
    const error = await rejectionOf(run());
    expect(isToolOutcomeUnknown(error)).toBe(true);
    if (!isToolOutcomeUnknown(error)) return;
    expect(error.message).toContain('call_1');
    expect(error.approval).toMatchObject({
      request_id: 'req_new',
      tool: 'transfer',
      args: transferArgs,
      expires_at: '2030-01-01T00:00:00.000Z',
    });
    expect(error.approval.call_id).toMatch(/^call_/);
    expect(error.approval.call_id).not.toBe('call_1');
    expect(error.approval.reason).toContain('unknown');
    expect(ledger.transfers()).toBe(0);
    expect((await store.getToolOutcome('call_1'))?.status).toBe('started');
  });

  it('records a failure of a fresh call and rethrows it', async () => {
    const { ledger, store, run, input } = setup();
    const tooMuch = input('transfer', { to: 'alice', amount: 2_000_000, currency: 'USD' });
    const error = await rejectionOf(run(tooMuch));
    expect(error).toMatchObject({ code: 'insufficient_funds' });
    expect(await store.getToolOutcome('call_1')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('cannot send 2000000'),
    });
    expect(ledger.transfers()).toBe(0);
  });
});

describe('runToolCall and the session snapshot', () => {
  function gated() {
    const t = setup();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const waits: string[] = [];
    const controller = new AbortController();
    const deps = {
      registry: createToolRegistry(createBuiltinTools(t.ledger)),
      store: t.store,
      approvalFor: () => {
        throw new Error('not expected');
      },
      started: (sessionId: string) => {
        waits.push(sessionId);
        return gate.then(() => true);
      },
    };
    const running = runToolCall(deps, t.input(), controller.signal);
    return { ...t, open, waits, controller, running };
  }

  it('starts a non-idempotent call only once the snapshot naming it is stored', async () => {
    const { ledger, store, open, waits, running } = gated();
    await new Promise((resolve) => setImmediate(resolve));
    expect(waits).toEqual(['ses_1']);
    expect(ledger.transfers()).toBe(0);
    expect(await store.getToolOutcome('call_1')).toBeUndefined();
    open();
    expect(await running).toMatchObject({ to: 'alice', amount: 250 });
    expect(ledger.transfers()).toBe(1);
    // The session stored the start with its tool_call and stores the outcome with its result.
    expect(await store.getToolOutcome('call_1')).toBeUndefined();
  });

  it('records a call cancelled while it runs as failed: no event carries its outcome', async () => {
    const t = setup();
    const controller = new AbortController();
    const slow = defineTool({
      name: 'slow_pay',
      description: 'Pays, slowly.',
      args: z.object({}),
      needsApproval: false,
      idempotent: false,
      run: (_args, { signal }) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(new Error('cancelled mid-call'))),
        ),
    });
    const deps = {
      registry: createToolRegistry([slow]),
      store: t.store,
      approvalFor: () => {
        throw new Error('not expected');
      },
      started: () => Promise.resolve(true),
    };
    const running = runToolCall(deps, t.input('slow_pay', {}), controller.signal);
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    await expect(running).rejects.toThrow('cancelled mid-call');
    expect(await t.store.getToolOutcome('call_1')).toMatchObject({
      status: 'failed',
      error: 'cancelled mid-call',
    });
  });

  // Found by test/durability: a cancel that arrived while the call waited still let it run.
  it('never starts a call that was cancelled while it waited', async () => {
    const { ledger, store, open, controller, running } = gated();
    controller.abort();
    open();
    await expect(running).rejects.toThrow();
    expect(ledger.transfers()).toBe(0);
    expect(await store.getToolOutcome('call_1')).toMatchObject({
      status: 'failed',
      error: 'cancelled before it ran',
    });
  });
});

describe('runToolCall for an idempotent tool', () => {
  it('runs it without recording an outcome', async () => {
    const { store, run, input } = setup();
    expect(await run(input('echo', { text: 'hi' }))).toEqual({ text: 'hi' });
    expect(await store.getToolOutcome('call_1')).toBeUndefined();
  });

  it('reports an unknown tool', async () => {
    const { run, input } = setup();
    expect(await rejectionOf(run(input('nope', {})))).toMatchObject({ code: 'unknown_tool' });
  });
});

describe('runToolCall for a custom tool', () => {
  it('passes the session, execution and call ids, and records a non-idempotent outcome', async () => {
    const contexts: Omit<ToolContext, 'signal'>[] = [];
    const refund = defineTool({
      name: 'refund',
      description: 'Refunds an order.',
      args: z.object({ order_id: z.string() }),
      needsApproval: true,
      idempotent: false,
      run: ({ order_id }, { sessionId, executionId, callId }) => {
        contexts.push({ sessionId, executionId, callId });
        return Promise.resolve({ refunded: order_id });
      },
    });
    const store = createMemoryStore();
    const deps = {
      registry: createToolRegistry([refund]),
      store,
      approvalFor: () => {
        throw new Error('not expected');
      },
    };
    const input: ToolInput = {
      session_id: 'ses_9',
      execution_id: 'exec_9',
      call: { call_id: 'call_9', tool: 'refund', args: { order_id: 'o-1' } },
      depth: 0,
    };
    const signal = new AbortController().signal;
    expect(await runToolCall(deps, input, signal)).toEqual({ refunded: 'o-1' });
    expect(await runToolCall(deps, input, signal)).toEqual({ refunded: 'o-1' });
    expect(contexts).toEqual([{ sessionId: 'ses_9', executionId: 'exec_9', callId: 'call_9' }]);
    expect((await store.getToolOutcome('call_9'))?.status).toBe('succeeded');
  });
});
