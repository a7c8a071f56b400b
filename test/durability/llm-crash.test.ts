import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  finishChunk,
  startFakeChatServer,
  textChunk,
  toolCallChunks,
  type FakeChatServer,
} from '../support/fake-chat-server.ts';
import { testTargets } from '../support/targets.ts';
import { createSession } from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import { createDurableData, type DurableData } from './durable-data.ts';
import { runScript, type Exit } from './server-process.ts';

const ARGS = { to: 'alice', amount: 125 };
const MODEL_CALL_ID = 'call_model_payout_1';

interface LlmServer {
  url: string;
  output(): string;
  kill(): Promise<Exit>;
}

/** Runs llm-server.ts on the data and resolves once it prints its URL. */
async function startLlmServer(data: DurableData, env: Record<string, string>): Promise<LlmServer> {
  const run = runScript('test/durability/llm-server.ts', [], data, env);
  let exit: Exit | undefined;
  void run.exited.then((e) => (exit = e));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const url = /listening on (http:\/\/\S+)/.exec(run.output())?.[1];
    if (url) {
      return {
        url,
        output: () => run.output(),
        kill() {
          if (run.child.exitCode === null && run.child.signalCode === null) {
            run.child.kill('SIGKILL');
          }
          return run.exited;
        },
      };
    }
    if (exit || Date.now() > deadline) {
      run.child.kill('SIGKILL');
      throw new Error(`llm-server did not start (${JSON.stringify(exit)}):\n${run.output()}`);
    }
    await sleep(20);
  }
}

async function payoutLines(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((line) => line !== '');
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** One story per target: an approved LLM call dies mid-run, then the restarted server. */
describe.each(testTargets())(
  'LLM-proposed call across a SIGKILL on $name',
  ({ backend, transport }) => {
    let data: DurableData;
    let fake: FakeChatServer;
    let dir: string;
    let env: Record<string, string>;
    let payoutLog: string;
    let server: LlmServer | undefined;
    const sockets: TestSocket[] = [];
    let sessionId: string;
    let first: WireEvent;
    let again: WireEvent;
    let socket: TestSocket;

    async function open(lastSeq?: number): Promise<TestSocket> {
      const opened = await connect(server!, {
        session_id: sessionId,
        ...(lastSeq === undefined ? {} : { last_seq: lastSeq }),
      });
      sockets.push(opened);
      await opened.waitFor('connected');
      return opened;
    }

    beforeAll(async () => {
      data = await createDurableData(backend, transport);
      fake = await startFakeChatServer();
      dir = await mkdtemp(join(tmpdir(), 'hitl-llm-crash-'));
      payoutLog = join(dir, 'payouts.log');
      env = { PAYOUT_LOG: payoutLog, OPENAI_BASE_URL: fake.baseUrl };
    });
    afterAll(async () => {
      for (const s of sockets) s.ws.terminate();
      await server?.kill();
      await fake?.close();
      await data?.dispose();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('a crash inside the approved call gives tool_outcome_unknown, not a second run', async () => {
      fake.enqueue({
        events: [
          ...toolCallChunks({ id: MODEL_CALL_ID, name: 'payout', args: ARGS }, 4),
          finishChunk('tool_calls'),
        ],
      });
      server = await startLlmServer(data, env);
      sessionId = await createSession(server);
      const before = await open();
      before.send({ type: 'execute', command: 'pay alice 125' });
      first = await before.waitFor('approval_required', { timeoutMs: 10_000 });
      expect(first.data).toMatchObject({ tool: 'payout', args: ARGS });
      before.send({ type: 'approve', request_id: first.data.request_id });
      await until(async () => (await payoutLines(payoutLog)).length > 0, 'the payout');
      expect(await payoutLines(payoutLog)).toEqual([first.data.call_id]);
      const lastSeq = before.events.at(-1)!.seq;
      expect(await server.kill()).toEqual({ code: null, signal: 'SIGKILL' });
      await before.closed;

      server = await startLlmServer(data, env);
      socket = await open(lastSeq);
      const unknown = await socket.waitFor(
        (e) => e.type === 'error' && e.data.code === 'tool_outcome_unknown',
        { timeoutMs: 10_000 },
      );
      expect(unknown.data.call_id).toBe(first.data.call_id);
      again = await socket.waitFor('approval_required', { from: socket.events.indexOf(unknown) });
      expect(again.data).toMatchObject({ tool: 'payout', args: ARGS });
      expect(again.data.call_id).not.toBe(first.data.call_id);
      expect(again.data.request_id).not.toBe(first.data.request_id);

      // Nothing ran twice and the model was not asked again (a short grace for a stray run).
      await sleep(200);
      expect(await payoutLines(payoutLog)).toEqual([first.data.call_id]);
      expect(fake.requests).toHaveLength(1);
      expect(
        socket.events.filter((e) => e.type === 'error').map((e) => String(e.data.code)),
      ).toEqual(['tool_outcome_unknown']);
    }, 90_000);

    // The re-issued request has a new call id and `replaces` the model's: its outcome settles
    // the model's call (before, the planner proposed that call again, round and round).
    it('rejecting the re-issued call tells the model, which ends the execution', async () => {
      expect(again, 'the crash test ran').toBeDefined();
      fake.enqueue({
        events: [textChunk('Not paid: a human rejected it.'), finishChunk('stop')],
      });
      const from = socket.events.length;
      socket.send({ type: 'reject', request_id: again.data.request_id, reason: 'paid by hand' });
      const end = await socket.waitFor(
        (e) => e.type === 'complete' || e.type === 'approval_required' || e.type === 'error',
        { from, timeoutMs: 10_000 },
      );
      expect(end.type).toBe('complete');
      expect(fake.requests).toHaveLength(2);
      const messages = (fake.requests[1]!.body as { messages: { role: string }[] }).messages;
      expect(messages.filter((m) => m.role === 'tool')).toEqual([
        expect.objectContaining({
          tool_call_id: MODEL_CALL_ID,
          content: expect.stringContaining('paid by hand'),
        }),
      ]);
      expect(await payoutLines(payoutLog)).toEqual([first.data.call_id]);
    }, 30_000);
  },
);
