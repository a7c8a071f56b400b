import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  completionBody,
  FAKE_MODEL,
  finishChunk,
  pause,
  raw,
  startFakeChatServer,
  textChunk,
  toolCallChunk,
  toolCallChunks,
  usageChunk,
} from '../../../test/support/fake-chat-server.ts';
import { messageEntry, plannerInput, step } from '../../../test/support/planner-fixtures.ts';
import { createBuiltinTools } from '../builtin-tools.ts';
import { createLedger } from '../ledger.ts';
import { createOpenAIPlanner } from './openai-planner.ts';

const server = await startFakeChatServer();
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
});

const tools = createBuiltinTools(createLedger());
const planner = createOpenAIPlanner({ baseUrl: server.baseUrl, model: 'configured-model', tools });
const transfer = { to: 'alice', amount: 250, currency: 'USD' };

describe('openai planner: streaming', () => {
  it('streams text deltas in order and answers with the whole text and its usage', async () => {
    server.enqueue({
      events: [
        textChunk('Hel'),
        textChunk('lo, '),
        textChunk('world'),
        finishChunk('stop'),
        usageChunk(12, 3),
      ],
    });
    const { step: answer, deltas } = await step(planner, plannerInput({ command: 'greet' }));

    expect(answer).toMatchObject({ kind: 'final', summary: 'Hello, world' });
    const message = answer.message!;
    expect(message.message_id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(deltas).toEqual([
      [message.message_id, 'Hel'],
      [message.message_id, 'lo, '],
      [message.message_id, 'world'],
    ]);
    expect(message).toEqual({
      message_id: message.message_id,
      text: 'Hello, world',
      model: FAKE_MODEL,
      finish_reason: 'stop',
      usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
      tool_calls: [],
    });
  });

  it('sends a streaming chat completions request with the tools as JSON Schema', async () => {
    server.enqueue({ events: [textChunk('ok'), finishChunk('stop')] });
    await step(planner, plannerInput({ command: 'do it' }));

    const [request] = server.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/v1/chat/completions' });
    expect(request!.headers.authorization).toBeUndefined();
    const body = request!.body as Record<string, unknown>;
    expect(body).toMatchObject({
      model: 'configured-model',
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(body.messages).toEqual([
      { role: 'system', content: expect.stringContaining('tools') as unknown },
      { role: 'user', content: 'do it' },
    ]);
    const specs = body.tools as Array<{ type: string; function: Record<string, unknown> }>;
    expect(specs.map((t) => t.function.name)).toEqual(tools.map((t) => t.name));
    expect(specs.find((t) => t.function.name === 'transfer')).toEqual({
      type: 'function',
      function: {
        name: 'transfer',
        description: expect.stringContaining('Moves money') as unknown,
        parameters: expect.objectContaining({
          type: 'object',
          required: ['to', 'amount', 'currency'],
          additionalProperties: false,
        }) as unknown,
      },
    });
  });

  it('omits tools when there are none, and uses a custom system prompt', async () => {
    const bare = createOpenAIPlanner({
      baseUrl: server.baseUrl,
      model: 'm',
      tools: [],
      systemPrompt: 'Be terse.',
    });
    server.enqueue({ events: [textChunk('ok')] });
    await step(bare, plannerInput());
    const body = server.requests[0]!.body as Record<string, unknown>;
    expect(body).not.toHaveProperty('tools');
    expect(body.messages).toEqual([
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'pay alice 250 USD' },
    ]);
  });

  it('assembles arguments streamed one byte at a time', async () => {
    server.enqueue({
      events: [
        textChunk('Paying alice.'),
        ...toolCallChunks({ id: 'call_m1', name: 'transfer', args: transfer }, 1),
        finishChunk('tool_calls'),
      ],
    });
    const { step: planned } = await step(planner, plannerInput());
    expect(planned).toMatchObject({ kind: 'call', tool: 'transfer', args: transfer });
    if (planned.kind !== 'call') return;
    expect(planned.call_id).toMatch(/^call_[0-9a-f]{32}$/);
    expect(planned.message).toMatchObject({
      text: 'Paying alice.',
      finish_reason: 'tool_calls',
      tool_calls: [
        { call_id: planned.call_id, model_call_id: 'call_m1', tool: 'transfer', args: transfer },
      ],
    });
  });

  it('returns the first of two parallel calls, then the second from the history without asking the model', async () => {
    server.enqueue({
      events: [
        ...toolCallChunks({ index: 0, id: 'm_a', name: 'echo', args: { text: 'a' } }, 3),
        ...toolCallChunks(
          { index: 1, id: 'm_b', name: 'get_balance', args: { account: 'bob' } },
          3,
        ),
        finishChunk('tool_calls'),
      ],
    });
    const first = await step(planner, plannerInput());
    expect(first.step).toMatchObject({ kind: 'call', tool: 'echo', args: { text: 'a' } });
    const calls = first.step.message!.tool_calls;
    expect(calls.map((c) => [c.model_call_id, c.tool])).toEqual([
      ['m_a', 'echo'],
      ['m_b', 'get_balance'],
    ]);
    expect(new Set(calls.map((c) => c.call_id)).size).toBe(2);

    const history = [
      messageEntry(first.step),
      {
        kind: 'result' as const,
        call_id: calls[0]!.call_id,
        tool: 'echo',
        args: { text: 'a' },
        result: { text: 'a' },
      },
    ];
    const second = await step(planner, plannerInput({ history }));
    expect(second.step).toEqual({
      kind: 'call',
      call_id: calls[1]!.call_id,
      tool: 'get_balance',
      args: { account: 'bob' },
    });
    expect(server.requests).toHaveLength(1);
  });

  it('tells apart parallel calls that all arrive at index 0 by their ids', async () => {
    server.enqueue({
      events: [
        toolCallChunk({ index: 0, id: 'm_a', name: 'echo', arguments: '{"text":' }),
        toolCallChunk({ index: 0, arguments: '"a"}' }),
        toolCallChunk({ index: 0, id: 'm_b', name: 'echo', arguments: '{"text":"b"}' }),
        finishChunk('tool_calls'),
      ],
    });
    const { step: planned } = await step(planner, plannerInput());
    expect(planned.message!.tool_calls.map((c) => [c.model_call_id, c.args])).toEqual([
      ['m_a', { text: 'a' }],
      ['m_b', { text: 'b' }],
    ]);
  });

  it('accepts arguments sent as an object and a call without an id', async () => {
    server.enqueue({
      events: [toolCallChunk({ name: 'transfer', arguments: transfer }), finishChunk('tool_calls')],
    });
    const { step: planned } = await step(planner, plannerInput());
    expect(planned).toMatchObject({ kind: 'call', tool: 'transfer', args: transfer });
    const [call] = planned.message!.tool_calls;
    expect(call!.model_call_id).toMatch(/^call_[0-9a-f]{32}$/);
    expect(call!.model_call_id).not.toBe(call!.call_id);
  });

  it('runs the tool calls of a turn that finished with "stop"', async () => {
    server.enqueue({
      events: [
        ...toolCallChunks({ id: 'm_1', name: 'echo', args: { text: 'hi' } }),
        finishChunk('stop'),
      ],
    });
    const { step: planned } = await step(planner, plannerInput());
    expect(planned).toMatchObject({ kind: 'call', tool: 'echo', args: { text: 'hi' } });
    expect(planned.message!.finish_reason).toBe('stop');
  });

  it('keeps the usage chunk and the model the server names; null usage when there is none', async () => {
    server.enqueue(
      { events: [textChunk('a', 'served-model'), finishChunk('stop'), usageChunk(100, 20)] },
      { events: [{ choices: [{ index: 0, delta: { content: 'b' }, finish_reason: 'stop' }] }] },
    );
    const withUsage = await step(planner, plannerInput());
    expect(withUsage.step.message).toMatchObject({
      model: 'served-model',
      usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
    });
    const without = await step(planner, plannerInput());
    expect(without.step.message).toMatchObject({ model: 'configured-model', usage: null });
  });

  it('accepts a stream that ends without [DONE] once it has its answer', async () => {
    server.enqueue({ events: [textChunk('done'), finishChunk('stop')], done: false });
    const { step: answer } = await step(planner, plannerInput());
    expect(answer).toMatchObject({ kind: 'final', summary: 'done' });
  });

  it('reads a plain JSON chat.completion when the server ignored stream: true', async () => {
    server.enqueue({
      json: completionBody({
        text: 'Sending it.',
        toolCalls: [{ id: 'm_j', name: 'transfer', args: transfer }],
        usage: { prompt_tokens: 5, completion_tokens: 7 },
      }),
    });
    const { step: planned, deltas } = await step(planner, plannerInput());
    expect(planned).toMatchObject({ kind: 'call', tool: 'transfer', args: transfer });
    expect(deltas.map(([, d]) => d)).toEqual(['Sending it.']);
    expect(planned.message).toMatchObject({
      text: 'Sending it.',
      finish_reason: 'tool_calls',
      usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
      tool_calls: [{ model_call_id: 'm_j', tool: 'transfer', args: transfer }],
    });
  });

  it('reads events split anywhere, even inside a multi-byte character', async () => {
    const frame = Buffer.from(`data: ${JSON.stringify(textChunk('Grüße 👋'))}\n\n`);
    const cut = frame.indexOf(Buffer.from('👋')) + 2;
    server.enqueue({
      events: [
        raw(frame.subarray(0, 3)),
        pause(10),
        raw(frame.subarray(3, cut)),
        pause(10),
        raw(frame.subarray(cut)),
        finishChunk('stop'),
      ],
    });
    const { step: answer } = await step(planner, plannerInput());
    expect(answer).toMatchObject({ kind: 'final', summary: 'Grüße 👋' });
  });

  it('keeps streaming when an onDelta listener throws', async () => {
    server.enqueue({ events: [textChunk('a'), textChunk('b'), finishChunk('stop')] });
    const answer = await planner.next(plannerInput(), {
      signal: new AbortController().signal,
      onDelta: () => {
        throw new Error('listener bug');
      },
    });
    expect(answer).toMatchObject({ kind: 'final', summary: 'ab' });
  });
});
