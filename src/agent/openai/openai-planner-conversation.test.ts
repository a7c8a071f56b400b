import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { AssistantMessage, HistoryEntry } from '../../../machines/session.types.ts';
import {
  finishChunk,
  startFakeChatServer,
  textChunk,
  toolCallChunk,
  toolCallChunks,
} from '../../../test/support/fake-chat-server.ts';
import { appErrorOf, plannerInput, step } from '../../../test/support/planner-fixtures.ts';
import { createBuiltinTools } from '../builtin-tools.ts';
import { createLedger } from '../ledger.ts';
import { createOpenAIPlanner } from './openai-planner.ts';

const server = await startFakeChatServer();
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
});

const tools = createBuiltinTools(createLedger());
const planner = createOpenAIPlanner({ baseUrl: server.baseUrl, model: 'm', tools });
const transfer = { to: 'alice', amount: 250, currency: 'USD' };

type SentMessage = {
  role: string;
  content: string | null;
  tool_call_id?: string;
  tool_calls?: unknown;
};
const sentMessages = (i: number) =>
  (server.requests[i]!.body as { messages: SentMessage[] }).messages;

const turn = (calls: AssistantMessage['tool_calls'], text = ''): HistoryEntry => ({
  kind: 'message',
  message: {
    message_id: 'msg_1',
    text,
    model: 'm',
    finish_reason: 'tool_calls',
    usage: null,
    tool_calls: calls,
  },
});

const answer = { events: [textChunk('All done.'), finishChunk('stop')] };

describe('openai planner: calls it cannot run', () => {
  it('tells the model its arguments were not JSON and returns the corrected call', async () => {
    server.enqueue(
      {
        events: [
          toolCallChunk({ id: 'm_bad', name: 'transfer', arguments: '{"to":"alice","amount":' }),
          finishChunk('tool_calls'),
        ],
      },
      {
        events: [
          ...toolCallChunks({ id: 'm_good', name: 'transfer', args: transfer }, 4),
          finishChunk('tool_calls'),
        ],
      },
    );
    const deltas: string[] = [];
    const planned = await planner.next(plannerInput(), {
      signal: new AbortController().signal,
      onDelta: (_id, d) => deltas.push(d),
    });

    expect(planned).toMatchObject({ kind: 'call', tool: 'transfer', args: transfer });
    expect(planned.message!.tool_calls).toEqual([
      expect.objectContaining({ model_call_id: 'm_good', args: transfer }),
    ]);
    expect(server.requests).toHaveLength(2);
    expect(sentMessages(1).slice(2)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'm_bad',
            type: 'function',
            function: { name: 'transfer', arguments: '{"to":"alice","amount":' },
          },
        ],
      },
      {
        role: 'tool',
        tool_call_id: 'm_bad',
        content: expect.stringMatching(
          /^error: arguments are not valid JSON .*did not run/,
        ) as unknown,
      },
    ]);
  });

  it('tells the model which args break the schema, and that a tool is unknown', async () => {
    server.enqueue(
      {
        events: [
          toolCallChunk({
            index: 0,
            id: 'm_1',
            name: 'transfer',
            arguments: '{"to":"alice","amount":-5,"currency":"USD"}',
          }),
          toolCallChunk({ index: 1, id: 'm_2', name: 'rm_rf', arguments: '{}' }),
          toolCallChunk({ index: 2, id: 'm_3', name: 'echo', arguments: '{"text":"fine"}' }),
          finishChunk('tool_calls'),
        ],
      },
      answer,
    );
    const { step: planned } = await step(planner, plannerInput());
    expect(planned).toMatchObject({ kind: 'final', summary: 'All done.' });

    const tool = sentMessages(1).filter((m) => m.role === 'tool');
    expect(tool.map((m) => m.tool_call_id)).toEqual(['m_1', 'm_2', 'm_3']);
    expect(tool[0]!.content).toContain('invalid arguments for transfer: amount:');
    expect(tool[1]!.content).toContain('unknown tool "rm_rf"');
    expect(tool[2]!.content).toMatch(/^not run: another call in this turn was invalid/);
  });

  it('fails with planner_step_limit when the model keeps getting it wrong', async () => {
    const wrong = {
      events: [
        toolCallChunk({ id: 'm_x', name: 'transfer', arguments: '{}' }),
        finishChunk('tool_calls'),
      ],
    };
    server.enqueue(wrong, wrong);
    const limited = createOpenAIPlanner({
      baseUrl: server.baseUrl,
      model: 'm',
      tools,
      maxSteps: 2,
    });
    const error = await appErrorOf(step(limited, plannerInput()));
    expect(error.code).toBe('planner_step_limit');
    expect(error.message).toContain('2 turns');
    expect(server.requests).toHaveLength(2);
  });

  it('counts the model turns already in the history against maxSteps', async () => {
    const limited = createOpenAIPlanner({
      baseUrl: server.baseUrl,
      model: 'm',
      tools,
      maxSteps: 2,
    });
    const call = (n: number) => ({
      call_id: `c${n}`,
      model_call_id: `m${n}`,
      tool: 'echo',
      args: { text: `${n}` },
    });
    const result = (n: number): HistoryEntry => ({
      kind: 'result',
      call_id: `c${n}`,
      tool: 'echo',
      args: { text: `${n}` },
      result: {},
    });
    const history = [turn([call(1)]), result(1), turn([call(2)]), result(2)];
    const error = await appErrorOf(step(limited, plannerInput({ history })));
    expect(error.code).toBe('planner_step_limit');
    expect(server.requests).toHaveLength(0);
  });
});

describe('openai planner: what the model sees of decisions', () => {
  it('shows an edited call with the args that ran, and its result', async () => {
    const call = { call_id: 'call_1', model_call_id: 'm_1', tool: 'transfer', args: transfer };
    const edited = { ...transfer, amount: 90 };
    const history: HistoryEntry[] = [
      turn([call], 'Paying alice.'),
      {
        kind: 'result',
        call_id: 'call_1',
        tool: 'transfer',
        args: edited,
        result: { to_balance: 1_090 },
      },
    ];
    server.enqueue(answer);
    const { step: planned } = await step(planner, plannerInput({ history }));
    expect(planned).toMatchObject({ kind: 'final', summary: 'All done.' });
    expect(sentMessages(0).slice(2)).toEqual([
      {
        role: 'assistant',
        content: 'Paying alice.',
        tool_calls: [
          {
            id: 'm_1',
            type: 'function',
            function: { name: 'transfer', arguments: JSON.stringify(edited) },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'm_1', content: '{"to_balance":1090}' },
    ]);
  });

  it('gives a rejected call a tool message with who rejected it and why', async () => {
    const history: HistoryEntry[] = [
      turn([{ call_id: 'call_1', model_call_id: 'm_1', tool: 'transfer', args: transfer }]),
      {
        kind: 'rejected',
        call_id: 'call_1',
        tool: 'transfer',
        args: transfer,
        reason: 'over budget',
        by: 'bob',
      },
    ];
    server.enqueue(answer);
    await step(planner, plannerInput({ history }));
    expect(sentMessages(0).slice(2)).toEqual([
      expect.objectContaining({ role: 'assistant', content: null }),
      {
        role: 'tool',
        tool_call_id: 'm_1',
        content: 'rejected by bob: over budget (the call did not run)',
      },
    ]);
  });

  it('answers every call of a turn, and the next turn sees them in order', async () => {
    const calls = [
      { call_id: 'c1', model_call_id: 'm1', tool: 'echo', args: { text: 'a' } },
      { call_id: 'c2', model_call_id: 'm2', tool: 'transfer', args: transfer },
    ];
    const history: HistoryEntry[] = [
      turn(calls),
      { kind: 'result', call_id: 'c1', tool: 'echo', args: { text: 'a' }, result: { text: 'a' } },
      {
        kind: 'rejected',
        call_id: 'c2',
        tool: 'transfer',
        args: transfer,
        reason: 'expired',
        by: 'system',
      },
    ];
    server.enqueue(answer);
    await step(planner, plannerInput({ history }));
    const sent = sentMessages(0);
    expect(sent.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'tool']);
    expect(sent.slice(3).map((m) => [m.tool_call_id, m.content])).toEqual([
      ['m1', '{"text":"a"}'],
      ['m2', 'not run: the approval expired before anyone decided'],
    ]);
  });

  it('runs a stored call that has no outcome yet without asking the model', async () => {
    const history = [
      turn([{ call_id: 'call_1', model_call_id: 'm_1', tool: 'transfer', args: transfer }]),
    ];
    const { step: planned } = await step(planner, plannerInput({ history }));
    expect(planned).toEqual({ kind: 'call', call_id: 'call_1', tool: 'transfer', args: transfer });
    expect(server.requests).toHaveLength(0);
  });
});
