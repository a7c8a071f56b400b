import type { PlanStep } from '../../machines/session.events.ts';
import type { ApprovalPolicyInput } from '../../machines/session.policy.ts';
import { FOUR_EYES_POLICY, TRANSFER_FOUR_EYES_LIMIT } from '../../src/agent/builtin-tools.ts';

/** The server's approval TTL in the model tests: an escalation's new deadline is as far off. */
export const MODEL_APPROVAL_TTL_MS = 60_000;

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
  /** Who decides, and how many (the built-in transfer's four-eyes policy above 10,000). */
  policy?: ApprovalPolicyInput;
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
    // Two approvers, not the requester; on expiry once to a finance lead.
    name: 'transfer_four_eyes',
    step: {
      tool: 'transfer',
      args: { to: 'alice', amount: TRANSFER_FOUR_EYES_LIMIT * 2, currency: 'USD' },
    },
    approval: true,
    policy: FOUR_EYES_POLICY,
    outcome: 'done',
  },
  {
    // Configured for the model's server (approvalPolicies): it takes two rejects to reject.
    name: 'transfer_two_rejections',
    step: { tool: 'transfer', args: { to: 'alice', amount: 15_000, currency: 'USD' } },
    approval: true,
    policy: { ...FOUR_EYES_POLICY, rejections_needed: 2 },
    outcome: 'done',
  },
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

/** The policies of the model's transfers by amount, as the model's server is configured. */
export function modelTransferPolicy(args: Record<string, unknown>): ApprovalPolicyInput | null {
  const scenario = SCENARIOS.find(
    (s) => s.step.tool === 'transfer' && s.step.args['amount'] === args['amount'],
  );
  return scenario?.policy ?? null;
}

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
