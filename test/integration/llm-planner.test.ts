import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createBuiltinTools, createLedger } from '../../src/agent/index.ts';
import { createOpenAIPlanner } from '../../src/agent/openai/index.ts';
import {
  finishChunk,
  pause,
  startFakeChatServer,
  textChunk,
  toolCallChunks,
  usageChunk,
} from '../support/fake-chat-server.ts';
import { testTargets } from '../support/targets.ts';
import { http } from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import { expectContiguous, expectWireValid, openUserSession, useTestApp } from './harness.ts';

const llm = await startFakeChatServer();
afterAll(() => llm.close());
beforeEach(() => {
  llm.requests.length = 0;
});

interface SentMessage {
  role: string;
  content: string | null;
  tool_call_id?: string;
  tool_calls?: { id: string; function: { name: string; arguments: string } }[];
}
const sent = (i: number) => (llm.requests[i]!.body as { messages: SentMessage[] }).messages;

/** The stored log of a session, as the audit REST route returns it. */
async function storedLog(app: { url: string }, token: string, id: string): Promise<WireEvent[]> {
  const answer = await http(app, 'GET', `/api/v1/sessions/${id}/events?limit=1000`, { token });
  return (answer.body as { events: WireEvent[] }).events;
}

const types = (events: readonly WireEvent[]) => events.map((e) => e.type);
const after = (socket: TestSocket) => socket.events.length;

describe.each(testTargets())('the LLM planner over a real socket on $name', (target) => {
  const ledger = createLedger();
  const h = useTestApp(target, {
    ledger,
    planner: createOpenAIPlanner({
      baseUrl: llm.baseUrl,
      model: 'fake-model',
      tools: createBuiltinTools(createLedger()),
      maxRetries: 0,
    }),
  });

  it('streams text as message_delta to every socket, then stores the message before complete', async () => {
    const { token, sessionId, socket } = await openUserSession(h.app, 'alice');
    const second = await connect(h.app, { session_id: sessionId, token });
    await second.waitFor('connected');
    llm.enqueue({
      events: [
        textChunk('Hello'),
        pause(80),
        textChunk(', '),
        textChunk('world'),
        pause(80),
        textChunk('.'),
        finishChunk('stop'),
        usageChunk(12, 4),
      ],
    });
    socket.send({ type: 'execute', command: 'say hello' });
    const complete = await socket.waitFor('complete');
    await second.waitFor('complete');
    for (const s of [socket, second]) {
      const deltas = s.events.filter((e) => e.type === 'message_delta');
      expect(deltas.length).toBeGreaterThanOrEqual(2);
      expect(deltas.map((e) => String(e.data.delta)).join('')).toBe('Hello, world.');
      expectWireValid(s.events);
    }
    expect(complete.data.summary).toBe('Hello, world.');

    const log = await storedLog(h.app, token, sessionId);
    expect(types(log)).toEqual(['thinking', 'message', 'complete']);
    expectContiguous(log);
    expect(log[1]!.data).toMatchObject({
      text: 'Hello, world.',
      model: 'fake-model',
      finish_reason: 'stop',
      usage: { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 },
      tool_calls: [],
    });
    // Deltas are not stored, and carry the seq of the last stored event (here: thinking's).
    const firstDelta = socket.events.find((e) => e.type === 'message_delta')!;
    expect(firstDelta.seq).toBe(log[0]!.seq);
    await Promise.all([socket.close(), second.close()]);
  });

  it('gives a socket that joins mid-stream the text so far in its first message_delta', async () => {
    const { token, sessionId, socket } = await openUserSession(h.app, 'alice');
    llm.enqueue({
      events: [
        textChunk('The answer '),
        textChunk('is '),
        pause(600),
        textChunk('42.'),
        finishChunk('stop'),
      ],
    });
    socket.send({ type: 'execute', command: 'think' });
    await socket.waitFor((e) => e.type === 'message_delta' && String(e.data.delta).includes('is'));
    const late = await connect(h.app, { session_id: sessionId, token });
    const first = await late.waitFor('message_delta');
    expect(first.data.delta).toBe('The answer is ');
    await late.waitFor('complete');
    const deltas = late.events.filter((e) => e.type === 'message_delta');
    expect(deltas.map((e) => String(e.data.delta)).join('')).toBe('The answer is 42.');
    await Promise.all([socket.close(), late.close()]);
  });

  it('two transfers in one turn: each asks for approval; one edited, one rejected; the model sees both', async () => {
    const { token, sessionId, socket } = await openUserSession(h.app, 'alice');
    const before = ledger.transfers();
    llm.enqueue(
      {
        events: [
          textChunk('Paying both.'),
          ...toolCallChunks(
            {
              index: 0,
              id: 'm_1',
              name: 'transfer',
              args: { to: 'bob', amount: 500, currency: 'USD' },
            },
            5,
          ),
          ...toolCallChunks(
            {
              index: 1,
              id: 'm_2',
              name: 'transfer',
              args: { to: 'eve', amount: 900, currency: 'USD' },
            },
            5,
          ),
          finishChunk('tool_calls'),
        ],
      },
      { events: [textChunk('Paid bob 120 USD; eve was refused.'), finishChunk('stop')] },
    );
    const from = after(socket);
    socket.send({ type: 'execute', command: 'pay bob and eve' });
    const first = await socket.waitFor('approval_required', { from });
    expect(first.data.args).toEqual({ to: 'bob', amount: 500, currency: 'USD' });
    socket.send({
      type: 'edit',
      request_id: first.data.request_id,
      edited_args: { to: 'bob', amount: 120, currency: 'USD' },
    });
    const second = await socket.waitFor(
      (e) => e.type === 'approval_required' && e.data.request_id !== first.data.request_id,
      { from },
    );
    expect(second.data.args).toEqual({ to: 'eve', amount: 900, currency: 'USD' });
    // The second call was the model's own: it was not asked again in between.
    expect(llm.requests).toHaveLength(1);
    socket.send({
      type: 'reject',
      request_id: second.data.request_id,
      reason: 'eve is not a customer',
    });
    const complete = await socket.waitFor('complete', { from });
    expect(complete.data.summary).toBe('Paid bob 120 USD; eve was refused.');
    expect(ledger.transfers()).toBe(before + 1);

    // What the model saw on its second turn: its calls, the edited args as the call it made,
    // one tool message per call: the result, and the rejection with its reason.
    expect(llm.requests).toHaveLength(2);
    const messages = sent(1);
    const assistant = messages.find((m) => m.role === 'assistant')!;
    expect(
      assistant.tool_calls?.map((c) => [c.id, JSON.parse(c.function.arguments) as unknown]),
    ).toEqual([
      ['m_1', { to: 'bob', amount: 120, currency: 'USD' }],
      ['m_2', { to: 'eve', amount: 900, currency: 'USD' }],
    ]);
    const toolMessages = messages.filter((m) => m.role === 'tool');
    expect(toolMessages.map((m) => m.tool_call_id)).toEqual(['m_1', 'm_2']);
    expect(toolMessages[0]!.content).toContain('120');
    expect(toolMessages[1]!.content).toContain('eve is not a customer');

    const log = await storedLog(h.app, token, sessionId);
    expect(types(log)).toEqual([
      'thinking',
      'message',
      'approval_required',
      'edit_approved',
      'tool_call',
      'tool_result',
      'approval_required',
      'rejected',
      'message',
      'complete',
    ]);
    expect(
      (log[1]!.data as { tool_calls: { tool: string }[] }).tool_calls.map((c) => c.tool),
    ).toEqual(['transfer', 'transfer']);
    await socket.close();
  });

  it('an upstream failure after the first delta is not retried: a stored error, the session failed', async () => {
    const { token, sessionId, socket } = await openUserSession(h.app, 'alice');
    llm.enqueue({ events: [textChunk('Let me')], done: false, then: 'destroy' });
    socket.send({ type: 'execute', command: 'fail midway' });
    const error = await socket.waitFor((e) => e.type === 'error' && e.state === 'failed');
    expect(error.data.code).toBe('planner_failed');
    expect(error.data.message).toMatch(/stream|upstream|connection|LLM|model/i);
    expect(llm.requests).toHaveLength(1);
    const log = await storedLog(h.app, token, sessionId);
    expect(types(log)).toEqual(['thinking', 'error']);
    await socket.close();
  });

  it('cancel aborts the upstream request: the LLM server sees the connection close within 100 ms', async () => {
    const { socket } = await openUserSession(h.app, 'alice');
    llm.enqueue({ events: [textChunk('Thinking very slowly'), pause(20_000), textChunk('...')] });
    socket.send({ type: 'execute', command: 'think slowly' });
    await socket.waitFor('message_delta');
    const request = llm.requests[0]!;
    const cancelledAt = Date.now();
    socket.send({ type: 'cancel' });
    const cancelled = await socket.waitFor('cancelled');
    expect(cancelled.data.aborted).toEqual([{ kind: 'planner', id: cancelled.execution_id }]);
    const closedAt = await request.clientClosed;
    expect(closedAt - cancelledAt).toBeLessThan(100);
    await socket.close();
  });
});
