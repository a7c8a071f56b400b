import type { PlanStep } from '../../machines/session.events.ts';

/**
 * The tool calls the model's planner may choose, each a concrete step of a built-in plan with
 * what the built-in agent does with it: whether the approval policy stops it, and how the tool
 * ends. The model's call ids are these names, so a model state says which call it holds; over
 * the wire the same step goes into the `plan` of an `execute` message.
 */
export interface Scenario {
  name: string;
  step: PlanStep;
  /** The registry's approval policy asks a human first. */
  approval: boolean;
  /**
   * How the call ends when it runs: `done`, `error` (the tool throws), `unknown` (a crash left
   * its outcome unknown), `waits` (until cancelled), or `subagent` (a delegate call).
   */
  outcome: 'done' | 'error' | 'unknown' | 'waits' | 'subagent';
  /** Only inside a subagent's plan, never chosen by the session's planner. */
  nested?: true;
}

/** The account whose first transfer in a call "crashes" (see crash-store.ts). */
export const CRASH_ACCOUNT = 'crashed';
/** The real sleep is long; it only ever ends by being cancelled. */
const LONG_SLEEP_MS = 10 * 60_000;

const echo: PlanStep = { tool: 'echo', args: { text: 'hello from the model' } };
const transfer: PlanStep = {
  tool: 'transfer',
  args: { to: 'alice', amount: 250, currency: 'USD' },
};
const fail: PlanStep = { tool: 'fail', args: { message: 'the model asked this tool to fail' } };
const delegate = (task: string, plan: PlanStep[]): PlanStep => ({
  tool: 'delegate',
  args: { task, plan },
});

/**
 * The runtime's default depth limit (`maxDepth` in src/runtime/session-logic.ts): subagents
 * nest this many levels deep, and a delegate call at the deepest level fails.
 */
export const SUBAGENT_DEPTH_LIMIT = 3;

/** A chain of delegate calls, one per level, the last one a level too deep. */
const nestedDelegates: PlanStep[] = [];
for (let depth = SUBAGENT_DEPTH_LIMIT; depth >= 1; depth--) {
  const inner = nestedDelegates[0] ?? echo;
  nestedDelegates.unshift(delegate(`delegate from subagent level ${depth}`, [inner]));
}

export const SCENARIOS: readonly Scenario[] = [
  { name: 'echo', step: echo, approval: false, outcome: 'done' },
  { name: 'fail', step: fail, approval: false, outcome: 'error' },
  {
    name: 'sleep',
    step: { tool: 'sleep', args: { ms: LONG_SLEEP_MS } },
    approval: false,
    outcome: 'waits',
  },
  { name: 'transfer', step: transfer, approval: true, outcome: 'done' },
  {
    // Approved, then refused by the ledger: a tool error after an approval.
    name: 'transfer_to_self',
    step: { tool: 'transfer', args: { to: 'operating', amount: 250, currency: 'USD' } },
    approval: true,
    outcome: 'error',
  },
  {
    // Under the approval limit, so it runs at once, and "crashes" mid-call.
    name: 'transfer_crash',
    step: { tool: 'transfer', args: { to: CRASH_ACCOUNT, amount: 50, currency: 'USD' } },
    approval: false,
    outcome: 'unknown',
  },
  {
    name: 'delegate',
    step: delegate('echo in a subagent', [echo]),
    approval: false,
    outcome: 'subagent',
  },
  {
    name: 'delegate_approval',
    step: delegate('a transfer that needs approval, in a subagent', [transfer]),
    approval: false,
    outcome: 'subagent',
  },
  {
    name: 'delegate_fail',
    step: delegate('a failing tool in a subagent', [fail]),
    approval: false,
    outcome: 'subagent',
  },
  {
    name: 'delegate_deep',
    step: delegate('delegate until past the depth limit', [nestedDelegates[0]!]),
    approval: false,
    outcome: 'subagent',
  },
  ...nestedDelegates.map((step, i): Scenario => ({
    name: `delegate_level_${i + 1}`,
    step,
    approval: false,
    outcome: 'subagent',
    nested: true,
  })),
];

/** The call id the model gives the call a human approves after a crash: it runs normally. */
export const RERUN_SUFFIX = ':rerun';

export function scenarioNamed(callId: string): Scenario {
  const name = callId.endsWith(RERUN_SUFFIX) ? callId.slice(0, -RERUN_SUFFIX.length) : callId;
  const scenario = SCENARIOS.find((candidate) => candidate.name === name);
  if (!scenario) throw new Error(`no scenario ${callId}`);
  return scenario;
}

/** How a call the model holds ends when it runs: a rerun after a crash completes. */
export function outcomeOf(callId: string): Scenario['outcome'] {
  return callId.endsWith(RERUN_SUFFIX) ? 'done' : scenarioNamed(callId).outcome;
}

/** The scenario of a step of a subagent's plan (found by its tool and args). */
export function scenarioOfStep(step: PlanStep): Scenario {
  const json = JSON.stringify(step);
  const scenario = SCENARIOS.find((candidate) => JSON.stringify(candidate.step) === json);
  if (!scenario) throw new Error(`no scenario for plan step ${json}`);
  return scenario;
}

/** The args a human puts in an `edit`: a smaller amount, still under the same policy. */
export function editedArgs(args: Record<string, unknown>): Record<string, unknown> {
  return { ...args, amount: 60 };
}
