import { fromCallback, fromPromise } from 'xstate';
import { z } from 'zod';
import { planStepSchema, type SessionEvent } from './session.events.ts';
import { escalates } from './session.policy.ts';
import type {
  ApprovalTimerInput,
  PlannerInput,
  PlannerOutput,
  SessionContext,
  SessionInput,
  ToolInput,
} from './session.types.ts';

/**
 * The actors the session invokes or spawns, the input each one is given from the context, and
 * the context a session starts with. The actors are inert defaults: the runtime provides the
 * real planner, tool runner and subagent.
 */

const MAX_TIMER_MS = 2_147_483_647;

export const delegateArgsSchema = z.object({
  task: z.string().min(1),
  plan: z.array(planStepSchema).min(1).max(100),
});

export const sessionActors = {
  planner: fromPromise<PlannerOutput, PlannerInput>(() =>
    Promise.reject(new Error('no planner provided')),
  ),
  tool: fromPromise<unknown, ToolInput>(() => Promise.reject(new Error('no tool runner provided'))),
  subagent: fromPromise<unknown, SessionInput>(() =>
    Promise.reject(new Error('no subagent logic provided')),
  ),
  approvalTimer: fromCallback<
    { type: 'approval.expired'; request_id: string; at?: number },
    ApprovalTimerInput
  >(({ input, sendBack }) => {
    const ms = Math.min(MAX_TIMER_MS, Math.max(0, Date.parse(input.expires_at) - Date.now()));
    const timer = setTimeout(
      () => sendBack({ type: 'approval.expired', request_id: input.request_id, at: Date.now() }),
      ms,
    );
    return () => clearTimeout(timer);
  }),
};

// Done and error events of invoked actors are not in SessionEvent: read them by shape.
export const actorOutput = (event: SessionEvent) => (event as { output?: unknown }).output;
export const plannerOutput = (event: SessionEvent) => (event as { output?: PlannerOutput }).output;
export const actorError = (event: SessionEvent) => (event as { error?: unknown }).error;

interface FromContext {
  context: SessionContext;
}

export function initialContext({ input }: { input: SessionInput }): SessionContext {
  return {
    session_id: input.session_id,
    depth: input.depth ?? 0,
    parent_call_id: input.parent_call_id ?? null,
    execution_id: null,
    executed_by: null,
    command: null,
    plan: null,
    history: [],
    current_call: null,
    pending: null,
    summary: null,
    error: null,
    executions: 0,
  };
}

export function plannerInput({ context }: FromContext): PlannerInput {
  return {
    session_id: context.session_id,
    execution_id: context.execution_id ?? '',
    command: context.command ?? '',
    plan: context.plan,
    history: context.history,
    depth: context.depth,
  };
}

export function approvalTimerInput({ context }: FromContext): ApprovalTimerInput {
  return {
    session_id: context.session_id,
    request_id: context.pending?.request_id ?? '',
    expires_at: context.pending?.expires_at ?? new Date(0).toISOString(),
    escalates: context.pending ? escalates(context.pending) : false,
  };
}

export function toolInput({ context }: FromContext): ToolInput {
  return {
    session_id: context.session_id,
    execution_id: context.execution_id ?? '',
    call: context.current_call ?? { call_id: '', tool: '', args: {} },
    depth: context.depth,
  };
}

export function subagentInput({ context }: FromContext): SessionInput {
  return {
    session_id: context.session_id,
    depth: context.depth + 1,
    parent_call_id: context.current_call?.call_id ?? '',
  };
}
