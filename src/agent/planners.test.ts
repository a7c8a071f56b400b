import { describe, expect, it } from 'vitest';
import type { HistoryEntry, PlannerInput } from '../../machines/session.types.ts';
import { createBuiltinPlanner } from './builtin-planner.ts';
import { createCommandPlanner } from './command-planner.ts';
import { createPlanPlanner } from './plan-planner.ts';

const context = { signal: new AbortController().signal };

function input(overrides: Partial<PlannerInput> = {}): PlannerInput {
  return {
    session_id: 'ses_1',
    execution_id: 'exec_1',
    command: 'run the plan',
    plan: null,
    history: [],
    depth: 0,
    ...overrides,
  };
}

const result = (tool: string, args: Record<string, unknown>, value: unknown): HistoryEntry => ({
  kind: 'result',
  call_id: `call_${tool}`,
  tool,
  args,
  result: value,
});

const rejected = (tool: string, reason: string): HistoryEntry => ({
  kind: 'rejected',
  call_id: `call_${tool}`,
  tool,
  args: {},
  reason,
  by: 'bob',
});

const message = (message_id: string): HistoryEntry => ({
  kind: 'message',
  message: {
    message_id,
    text: 'thinking out loud',
    model: 'm',
    finish_reason: 'stop',
    usage: null,
    tool_calls: [],
  },
});

describe('plan planner', () => {
  const plan = [
    { tool: 'echo', args: { text: 'one' } },
    { tool: 'transfer', args: { to: 'alice', amount: 250, currency: 'USD' } },
    { tool: 'get_balance', args: { account: 'alice' } },
  ];
  const planner = createPlanPlanner();

  it('runs the steps in order, one per turn', async () => {
    expect(await planner.next(input({ plan }), context)).toEqual({ kind: 'call', ...plan[0] });
    const afterOne = [result('echo', { text: 'one' }, { text: 'one' })];
    expect(await planner.next(input({ plan, history: afterOne }), context)).toEqual({
      kind: 'call',
      ...plan[1],
    });
  });

  it('skips a rejected step and reports its reason in the summary', async () => {
    const history = [
      result('echo', { text: 'one' }, { text: 'one' }),
      rejected('transfer', 'over budget'),
    ];
    expect(await planner.next(input({ plan, history }), context)).toEqual({
      kind: 'call',
      ...plan[2],
    });
    const done = [...history, result('get_balance', { account: 'alice' }, { balance: 1000 })];
    const final = await planner.next(input({ plan, history: done }), context);
    expect(final.kind).toBe('final');
    if (final.kind !== 'final') return;
    expect(final.summary).toContain('plan finished (3 steps)');
    expect(final.summary).toContain('2. transfer rejected by bob: over budget');
    expect(final.summary).toContain('3. get_balance ok: {"balance":1000}');
  });

  it('counts only results and rejections, so a model message never shifts the plan', async () => {
    const history: HistoryEntry[] = [
      message('msg_1'),
      result('echo', { text: 'one' }, { text: 'one' }),
      message('msg_2'),
    ];
    expect(await planner.next(input({ plan, history }), context)).toEqual({
      kind: 'call',
      ...plan[1],
    });
    const final = await planner.next(input({ plan: plan.slice(0, 1), history }), context);
    expect(final.kind === 'final' && final.summary).toBe(
      'plan finished (1 steps)\n1. echo ok: {"text":"one"}',
    );
  });

  it('says an expired approval was skipped', async () => {
    const final = await planner.next(
      input({ plan: plan.slice(0, 1), history: [rejected('echo', 'expired')] }),
      context,
    );
    expect(final).toMatchObject({ kind: 'final' });
    expect(final.kind === 'final' && final.summary).toContain('echo skipped: approval expired');
  });
});

describe('command planner', () => {
  const planner = createCommandPlanner();
  const first = (command: string) => planner.next(input({ command }), context);

  const commands: Record<string, { tool: string; args: Record<string, unknown> }> = {
    'transfer 250 USD to alice': {
      tool: 'transfer',
      args: { amount: 250, currency: 'USD', to: 'alice' },
    },
    'send 42.5 eur to Bob': {
      tool: 'transfer',
      args: { amount: 42.5, currency: 'EUR', to: 'bob' },
    },
    'pay 10 to carol': { tool: 'transfer', args: { amount: 10, currency: 'USD', to: 'carol' } },
    'balance of alice': { tool: 'get_balance', args: { account: 'alice' } },
    'get balance for bob': { tool: 'get_balance', args: { account: 'bob' } },
    balance: { tool: 'get_balance', args: { account: 'operating' } },
    'echo hi': { tool: 'echo', args: { text: 'hi' } },
    '  echo  two words ': { tool: 'echo', args: { text: 'two words' } },
    'sleep 10': { tool: 'sleep', args: { ms: 10 } },
    'sleep 500ms': { tool: 'sleep', args: { ms: 500 } },
    'fail on purpose': { tool: 'fail', args: { message: 'on purpose' } },
  };
  for (const [command, call] of Object.entries(commands)) {
    it(`parses "${command}"`, async () => {
      expect(await first(command)).toEqual({ kind: 'call', ...call });
    });
  }

  it('answers a command it cannot parse instead of failing', async () => {
    for (const command of ['make me a sandwich', 'transfer lots to alice', 'sleep forever']) {
      const step = await first(command);
      expect(step.kind).toBe('final');
      expect(step.kind === 'final' && step.summary).toContain(`I did not understand "${command}"`);
      expect(step.kind === 'final' && step.summary).toContain('transfer 250 USD to alice');
    }
  });

  it('answers with the result after its one call', async () => {
    const history = [result('echo', { text: 'hi' }, { text: 'hi' })];
    expect(await planner.next(input({ command: 'echo hi', history }), context)).toEqual({
      kind: 'final',
      summary: 'echo ok: {"text":"hi"}',
    });
  });

  it('answers with the result when a model message comes first in the history', async () => {
    const history = [message('msg_1'), result('echo', { text: 'hi' }, { text: 'hi' })];
    expect(await planner.next(input({ command: 'echo hi', history }), context)).toEqual({
      kind: 'final',
      summary: 'echo ok: {"text":"hi"}',
    });
  });

  it('answers with the rejection and its reason', async () => {
    const history = [rejected('transfer', 'not today')];
    const step = await planner.next(
      input({ command: 'transfer 250 USD to alice', history }),
      context,
    );
    expect(step).toEqual({ kind: 'final', summary: 'transfer rejected by bob: not today' });
  });
});

describe('built-in planner', () => {
  it('follows the plan when there is one, else the command', async () => {
    const planner = createBuiltinPlanner();
    const plan = [{ tool: 'get_balance', args: { account: 'bob' } }];
    expect(await planner.next(input({ command: 'echo hi', plan }), context)).toEqual({
      kind: 'call',
      tool: 'get_balance',
      args: { account: 'bob' },
    });
    expect(await planner.next(input({ command: 'echo hi' }), context)).toEqual({
      kind: 'call',
      tool: 'echo',
      args: { text: 'hi' },
    });
  });
});
