import type { AnyStateNode } from 'xstate';
import type { SessionEvent } from '../../machines/session.events.ts';
import {
  sessionMachine,
  type PlannerOutput,
  type SessionContext,
  type ToolCall,
} from '../../machines/session.machine.ts';
import { resolvePolicy, voteRefusal } from '../../machines/session.policy.ts';
import {
  MODEL_APPROVAL_TTL_MS,
  RERUN_SUFFIX,
  SCENARIOS,
  editedArgs,
  outcomeOf,
  scenarioOfStep,
  type Scenario,
} from './scenarios.ts';

/**
 * What the world around a session can do in each state: the events the model feeds the real
 * machine. The machine decides where each leads; this only says what can happen, mirroring the
 * built-in agent (plan steps, tool policies and outcomes), the humans (approve, edit, reject,
 * cancel) and time (expiry).
 */

export const MODEL_USER = 'model';

/**
 * The users who vote when a policy names roles (MODEL_USER, the requester, holds none): two
 * approvers, and two finance leads for a request escalated to them.
 */
export const MODEL_VOTERS: readonly { user_id: string; roles: string[] }[] = [
  { user_id: 'model-approver-1', roles: ['approver'] },
  { user_id: 'model-approver-2', roles: ['approver'] },
  { user_id: 'model-finance-1', roles: ['approver', 'finance_lead'] },
  { user_id: 'model-finance-2', roles: ['approver', 'finance_lead'] },
];

/** Internal events (invoked actors' done and error) are not in the machine's event union. */
const internal = (event: { type: string } & Record<string, unknown>) =>
  event as unknown as SessionEvent;

function invokeId(path: string[]): string {
  let node: AnyStateNode = sessionMachine.root;
  for (const key of path) node = node.states[key]!;
  return node.invoke[0]!.id;
}
export const PLANNER_ID = invokeId(['thinking']);
export const TOOL_ID = invokeId(['executing', 'tool']);

/** What a subagent running a delegate call's plan can make its parent see. */
export interface SubagentOutcomes {
  done: boolean;
  failed: boolean;
  /** It stops and waits (for a human), so the parent can be cancelled meanwhile. */
  waits: boolean;
  /** Past the depth limit its logic is a failing actor, not a session machine. */
  tooDeep: boolean;
}

export interface Snapshot {
  value: unknown;
  context: SessionContext;
  matches(value: string | Record<string, string>): boolean;
}

export interface Environment {
  events(snapshot: Snapshot): SessionEvent[];
}

export function plannerCall(scenario: Scenario): PlannerOutput {
  const call: ToolCall = {
    call_id: scenario.name,
    tool: scenario.step.tool,
    args: scenario.step.args,
  };
  return {
    kind: 'call',
    call,
    approval: scenario.approval
      ? {
          ...approvalFor(call, 'over the approval limit'),
          ...(scenario.policy
            ? { policy: resolvePolicy(scenario.policy, MODEL_APPROVAL_TTL_MS) }
            : {}),
        }
      : null,
  };
}

/** Who votes next on a pending request: the requester under the default policy, else the first voter it admits. */
function nextVoter(context: SessionContext): { by: string; roles?: string[] } | null {
  const pending = context.pending;
  if (!pending?.policy) return { by: MODEL_USER };
  const voter = MODEL_VOTERS.find((v) => voteRefusal(pending, context.executed_by, v) === null);
  return voter ? { by: voter.user_id, roles: voter.roles } : null;
}

function approvalFor(call: ToolCall, reason: string) {
  return { ...call, request_id: `req:${call.call_id}`, reason, expires_at: 'model time' };
}

const plannerDone = (output: PlannerOutput) =>
  internal({ type: `xstate.done.actor.${PLANNER_ID}`, output });

function plannerEvents(context: SessionContext): SessionEvent[] {
  if (context.depth > 0) {
    // A subagent runs its plan with the built-in plan planner: one step per history entry.
    const step = context.plan?.[context.history.length];
    return [
      plannerDone(step ? plannerCall(scenarioOfStep(step)) : { kind: 'final', summary: 'done' }),
    ];
  }
  return [
    plannerDone({ kind: 'final', summary: 'done' }),
    ...SCENARIOS.filter((scenario) => !scenario.nested).map((s) => plannerDone(plannerCall(s))),
    internal({ type: `xstate.error.actor.${PLANNER_ID}`, error: { message: 'planner failed' } }),
  ];
}

function toolEvents(call: ToolCall): SessionEvent[] {
  switch (outcomeOf(call.call_id)) {
    case 'done':
      return [internal({ type: `xstate.done.actor.${TOOL_ID}`, output: { ok: true } })];
    case 'error':
      return [
        internal({ type: `xstate.error.actor.${TOOL_ID}`, error: { message: 'tool failed' } }),
      ];
    case 'unknown': {
      const rerun = { ...call, call_id: `${call.call_id}${RERUN_SUFFIX}` };
      const approval = approvalFor(rerun, 'outcome unknown');
      const error = { code: 'tool_outcome_unknown', message: 'outcome unknown', approval };
      return [internal({ type: `xstate.error.actor.${TOOL_ID}`, error })];
    }
    default:
      return [];
  }
}

/**
 * Under a policy, the votes that take its transitions and few more: every vote, expiry and
 * cancel on a fresh request; then what decides it or counts once more (a second approval, or
 * a second reject where two are needed), and an expiry that escalates the request with a
 * vote in it. Another vote of a kind already counted would take no new transition.
 */
function policyEvents(
  pending: NonNullable<SessionContext['pending']>,
  e: Record<'approve' | 'edit' | 'reject' | 'expired', SessionEvent>,
  cancel: SessionEvent[],
): SessionEvent[] {
  const votes = pending.votes ?? [];
  const escalated = (pending.escalations ?? 0) > 0;
  const last = votes.at(-1)?.vote;
  if (!last) {
    if (escalated) return [e.expired];
    // Where two rejects are needed, a reject is what the scenario is there for.
    if ((pending.policy?.rejections_needed ?? 1) > 1) return [e.reject];
    return [e.approve, e.edit, e.reject, e.expired, ...cancel];
  }
  if (last === 'reject') return [e.reject];
  return last === 'approve' && !escalated ? [e.approve, e.expired] : [e.approve];
}

/**
 * The environment of a session (depth 0) or of a subagent (depth > 0, started by `execute`).
 * `subagent` says what the subagent of a delegate call can do; the model paths work it out
 * from the same machine one level down.
 */
export function createEnvironment(options: {
  subagent(call: ToolCall, depth: number): SubagentOutcomes;
  /** For a subagent: the execute its parent sends it. */
  execute?: SessionEvent;
}): Environment {
  const execute: SessionEvent = options.execute ?? {
    type: 'execute',
    command: 'model',
    execution_id: 'model',
    by: MODEL_USER,
  };
  return {
    events(snapshot) {
      const { context } = snapshot;
      const matches = (value: string | Record<string, string>) => snapshot.matches(value);
      const top = context.depth === 0;
      const cancel: SessionEvent[] = top ? [{ type: 'cancel', by: MODEL_USER }] : [];
      const call = context.current_call;
      if (matches('idle')) return [execute];
      if (matches('complete') || matches('cancelled') || matches('failed'))
        return top ? [execute] : [];
      if (matches('thinking')) return [...plannerEvents(context), ...cancel];
      if (matches('awaiting_approval') && context.pending) {
        const { request_id, args } = context.pending;
        const voter = nextVoter(context) ?? { by: MODEL_USER };
        const approve: SessionEvent = { type: 'approve', request_id, ...voter };
        const edit: SessionEvent = {
          type: 'edit',
          request_id,
          edited_args: editedArgs(args),
          ...voter,
        };
        const reject: SessionEvent = {
          type: 'reject',
          request_id,
          reason: 'the model says no',
          ...voter,
        };
        const expired: SessionEvent = { type: 'approval.expired', request_id };
        if (context.pending.policy)
          return policyEvents(context.pending, { approve, edit, reject, expired }, cancel);
        return [approve, edit, reject, expired, ...cancel];
      }
      if (matches({ executing: 'tool' }) && call) {
        return [...toolEvents(call), ...(outcomeOf(call.call_id) === 'waits' ? cancel : [])];
      }
      if (matches({ executing: 'subagent' }) && call) {
        const can = options.subagent(call, context.depth);
        const { call_id } = call;
        return [
          ...(can.done
            ? [{ type: 'subagent.done' as const, call_id, summary: '', results: [] }]
            : []),
          ...(can.failed ? [{ type: 'subagent.failed' as const, call_id, message: 'failed' }] : []),
          ...(can.tooDeep
            ? [internal({ type: 'xstate.error.actor.subagent', error: { message: 'too deep' } })]
            : []),
          ...(can.waits ? cancel : []),
        ];
      }
      return [];
    },
  };
}
