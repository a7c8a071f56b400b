import {
  assign,
  emit,
  enqueueActions,
  sendTo,
  spawnChild,
  stopChild,
  type ActionArgs,
  type AnyActorRef,
} from 'xstate';
import {
  actorError,
  actorOutput,
  delegateArgsSchema,
  plannerOutput,
  subagentInput,
  type sessionActors,
} from './session.actors.ts';
import type { SessionEvent } from './session.events.ts';
import { abortedWork, type CancelledFrom } from './session.aborted.ts';
import type { EmittedData, EmittedType, SessionEmitted } from './session.emitted.ts';
import {
  countsVotes,
  decidersOf,
  escalatedPolicy,
  policyOf,
  tally,
  type VoteKind,
} from './session.policy.ts';
import {
  errorMessage,
  isToolOutcomeUnknown,
  type ApprovalRequest,
  type SessionContext,
} from './session.types.ts';

/** The session's actions, named in the chart: what it records in its context and emits. */

type Args = ActionArgs<SessionContext, SessionEvent, SessionEvent>;
type SessionActor = {
  [K in keyof typeof sessionActors]: {
    src: K;
    logic: (typeof sessionActors)[K];
    id: string | undefined;
  };
}[keyof typeof sessionActors];

const update = assign<SessionContext, SessionEvent, undefined, SessionEvent, never>;
type SessionEnqueue = typeof enqueueActions<
  SessionContext,
  SessionEvent,
  undefined,
  SessionEvent,
  never,
  never,
  never,
  never,
  SessionEmitted
>;
/**
 * enqueueActions typed for this machine: it may emit the session's events. A function with a
 * named signature rather than an instantiation expression, so the package's `.d.ts` can name it.
 */
export function enqueueSession(collect: Parameters<SessionEnqueue>[0]): ReturnType<SessionEnqueue> {
  return enqueueActions(collect);
}

/** Emits `type` with the current execution id and the data read from the action's arguments. */
function emitEvent<T extends EmittedType, P extends object | undefined = undefined>(
  type: T,
  data: (args: Args, params: P) => EmittedData<T>,
) {
  return emit<SessionContext, SessionEvent, P, SessionEvent, SessionEmitted>(
    (args, params) =>
      ({
        type,
        execution_id: args.context.execution_id,
        data: data(args, params),
      }) as SessionEmitted,
  );
}

/**
 * Like emitEvent, for the events that end the session's execution (`complete`, and the
 * `error` that fails it): a subagent emits neither, its end is the parent's `subagent_end`.
 */
function emitSessionEnd<T extends 'complete' | 'error'>(
  type: T,
  data: (context: SessionContext) => EmittedData<T>,
) {
  return enqueueSession(({ context, enqueue }) => {
    if (context.parent_call_id !== null) return;
    enqueue.emit({
      type,
      execution_id: context.execution_id,
      data: data(context),
    } as SessionEmitted);
  });
}

/** What a finished call returns: a tool's output, or a subagent's summary and results. */
function resultOf(event: SessionEvent): unknown {
  if (event.type === 'subagent.done') return { summary: event.summary, results: event.results };
  return actorOutput(event);
}

function failureMessage(event: SessionEvent): string {
  return event.type === 'subagent.failed' ? event.message : errorMessage(actorError(event));
}

const rejectionReason = (event: SessionEvent) =>
  event.type === 'reject' ? (event.reason ?? 'rejected') : 'expired';
/** Who sent the command that the action answers. */
const senderOf = (event: SessionEvent) => ('by' in event ? event.by : '');

const voteOf = (event: SessionEvent): VoteKind | null =>
  event.type === 'approve' || event.type === 'reject' || event.type === 'edit' ? event.type : null;

/** Who decided: the sender, or every approver (in vote order) when the policy counts votes. */
function decidedBy({ pending }: SessionContext, event: SessionEvent): string | string[] {
  const vote = voteOf(event);
  if (!pending || !vote || !countsVotes(policyOf(pending))) return senderOf(event);
  return decidersOf(pending, vote, senderOf(event));
}

/** The request once a vote is counted: an edit replaces the args and voids the earlier votes. */
function withVote(pending: ApprovalRequest, event: SessionEvent): ApprovalRequest {
  const vote = voteOf(event);
  if (!vote) return pending;
  const cast = { by: senderOf(event), vote };
  if (event.type !== 'edit') return { ...pending, votes: [...(pending.votes ?? []), cast] };
  return {
    ...pending,
    args: event.edited_args,
    original_args: pending.original_args ?? pending.args,
    votes: [cast],
  };
}

const pendingIds = ({ pending }: SessionContext) => ({
  request_id: pending?.request_id ?? '',
  call_id: pending?.call_id ?? '',
});

const subagentIds = ({ current_call }: SessionContext) => ({
  subagent_id: `sub_${current_call?.call_id ?? ''}`,
  call_id: current_call?.call_id ?? '',
});

export const sessionActions = {
  startExecution: update(({ context, event }) =>
    event.type === 'execute'
      ? {
          execution_id: event.execution_id,
          executed_by: event.by,
          command: event.command,
          plan: event.plan ?? null,
          history: [],
          current_call: null,
          pending: null,
          summary: null,
          error: null,
          executions: context.executions + 1,
        }
      : {},
  ),
  recordSummary: update(({ event }) => {
    const output = plannerOutput(event);
    return { summary: output?.kind === 'final' ? output.summary : '' };
  }),
  holdCall: update(({ event }) => {
    const output = plannerOutput(event);
    return { current_call: output?.kind === 'call' ? output.call : null };
  }),
  holdApproval: update(({ event }) => {
    const output = plannerOutput(event);
    return { pending: output?.kind === 'call' ? output.approval : null };
  }),
  // A human decides on a fresh call id: approving it runs the call again.
  holdOutcomeUnknown: update(({ event }) => {
    const error = actorError(event);
    if (!isToolOutcomeUnknown(error)) return {};
    const { request_id: _r, reason: _why, expires_at: _at, ...call } = error.approval;
    return { pending: error.approval, current_call: call };
  }),
  // The edited args: the edit's own, or those an earlier edit put to the vote.
  applyEdit: update(({ context, event }) => {
    const args = event.type === 'edit' ? event.edited_args : context.pending?.args;
    return {
      current_call:
        context.current_call && args ? { ...context.current_call, args } : context.current_call,
    };
  }),
  recordVote: update(({ context, event }) => ({
    pending: context.pending ? withVote(context.pending, event) : null,
  })),
  escalate: update(({ context, event }) => {
    const pending = context.pending;
    const escalation = pending && policyOf(pending).escalate;
    if (!pending || !escalation) return {};
    const from = event.type === 'approval.expired' && event.at !== undefined ? event.at : NaN;
    const base = Number.isFinite(from) ? from : Date.parse(pending.expires_at);
    return {
      pending: {
        ...pending,
        policy: escalatedPolicy(policyOf(pending)),
        escalations: (pending.escalations ?? 0) + 1,
        expires_at: new Date((Number.isFinite(base) ? base : 0) + escalation.ttl_ms).toISOString(),
      },
    };
  }),
  clearPending: update({ pending: null }),
  recordRejection: update(({ context, event }) => {
    const pending = context.pending;
    if (!pending) return {};
    const entry = {
      kind: 'rejected' as const,
      call_id: pending.call_id,
      tool: pending.tool,
      args: pending.args,
      ...(pending.replaces !== undefined ? { replaces: pending.replaces } : {}),
      reason: rejectionReason(event),
      by: event.type === 'reject' ? event.by : 'system',
    };
    return {
      history: [...context.history, entry],
      pending: null,
      current_call: null,
    };
  }),
  recordResult: update(({ context, event }) => ({
    history: context.current_call
      ? [
          ...context.history,
          { kind: 'result' as const, ...context.current_call, result: resultOf(event) },
        ]
      : context.history,
    current_call: null,
  })),
  recordError: assign<SessionContext, SessionEvent, { code: string }, SessionEvent, never>(
    ({ event }, { code }) => ({ error: { code, message: failureMessage(event) } }),
  ),

  emitThinking: emitEvent('thinking', ({ context }) => ({
    execution_id: context.execution_id ?? '',
    command: context.command ?? '',
    plan_steps: context.plan?.length ?? null,
  })),
  emitApprovalRequired: emitEvent('approval_required', ({ context }) => ({
    ...pendingIds(context),
    tool: context.pending?.tool ?? '',
    args: context.pending?.args ?? {},
    reason: context.pending?.reason ?? '',
    expires_at: context.pending?.expires_at ?? '',
    ...(context.pending?.policy ? { policy: context.pending.policy } : {}),
  })),
  // Before the vote is recorded: it reads the votes that came before this one.
  emitVote: enqueueSession(({ context, event, enqueue }) => {
    const pending = context.pending;
    const vote = voteOf(event);
    if (!pending || !vote || !countsVotes(policyOf(pending))) return;
    const voided = (pending.votes ?? []).map((v) => v.by);
    enqueue.emit({
      type: 'approval_vote',
      execution_id: context.execution_id,
      data: {
        ...pendingIds(context),
        decided_by: senderOf(event),
        vote,
        ...tally(pending, vote),
        ...(event.type === 'edit' ? { edited_args: event.edited_args, reset_votes: voided } : {}),
      },
    });
  }),
  emitApprovalEscalated: emitEvent('approval_escalated', ({ context }) => ({
    ...pendingIds(context),
    to: policyOf(context.pending).escalate?.to ?? '',
    expires_at: context.pending?.expires_at ?? '',
    escalations: context.pending?.escalations ?? 0,
    times: policyOf(context.pending).escalate?.times ?? 0,
  })),
  emitApproved: emitEvent('approved', ({ context, event }) => ({
    ...pendingIds(context),
    decided_by: decidedBy(context, event),
  })),
  emitEditApproved: emitEvent('edit_approved', ({ context, event }) => ({
    ...pendingIds(context),
    decided_by: decidedBy(context, event),
    original_args: context.pending?.original_args ?? context.pending?.args ?? {},
    edited_args: event.type === 'edit' ? event.edited_args : (context.pending?.args ?? {}),
  })),
  emitRejected: emitEvent('rejected', ({ context, event }) => ({
    ...pendingIds(context),
    decided_by: decidedBy(context, event),
    reason: rejectionReason(event),
  })),
  emitApprovalExpired: emitEvent('approval_expired', ({ context }) => ({
    ...pendingIds(context),
    expires_at: context.pending?.expires_at ?? '',
  })),
  emitCancelled: emitEvent(
    'cancelled',
    ({ context, event, self }, params: { from: CancelledFrom }) => ({
      execution_id: context.execution_id ?? '',
      cancelled_by: senderOf(event),
      aborted: abortedWork(context, self, params.from),
    }),
  ),
  emitToolCall: emitEvent('tool_call', ({ context: { current_call } }) => ({
    call_id: current_call?.call_id ?? '',
    tool: current_call?.tool ?? '',
    args: current_call?.args ?? {},
  })),
  emitToolResult: emitEvent('tool_result', ({ context: { current_call }, event }) => ({
    call_id: current_call?.call_id ?? '',
    tool: current_call?.tool ?? '',
    result: resultOf(event),
  })),
  emitComplete: emitSessionEnd('complete', (context) => ({
    execution_id: context.execution_id ?? '',
    summary: context.summary ?? '',
    steps: context.history.filter((entry) => entry.kind !== 'message').length,
  })),
  // Only ever taken into `failed`: the error that ends the execution.
  emitError: emitSessionEnd('error', (context) => ({
    code: context.error?.code ?? 'failed',
    message: context.error?.message ?? 'failed',
    ...(context.current_call ? { call_id: context.current_call.call_id } : {}),
  })),
  emitOutcomeUnknown: emitEvent('error', ({ context, event }) => ({
    code: 'tool_outcome_unknown',
    message: errorMessage(actorError(event)),
    call_id: context.current_call?.call_id ?? '',
  })),

  spawnSubagent: spawnChild<SessionContext, SessionEvent, undefined, SessionEvent, SessionActor>(
    'subagent',
    { id: 'subagent', input: subagentInput },
  ),
  sendTask: sendTo<SessionContext, SessionEvent, undefined, AnyActorRef, SessionEvent>(
    'subagent',
    ({ context }: Args) => {
      const args = delegateArgsSchema.parse(context.current_call?.args);
      return {
        type: 'execute' as const,
        command: args.task,
        plan: args.plan,
        execution_id: `${context.execution_id ?? ''}/${context.current_call?.call_id ?? ''}`,
        by: context.executed_by ?? 'system',
      };
    },
  ),
  stopSubagent: stopChild<SessionContext, SessionEvent, undefined, SessionEvent>('subagent'),
  emitSubagentStart: emitEvent('subagent_start', ({ context }) => ({
    ...subagentIds(context),
    task: delegateArgsSchema.safeParse(context.current_call?.args).data?.task ?? '',
  })),
  emitSubagentEnd: emitEvent('subagent_end', ({ context, event }) => ({
    ...subagentIds(context),
    ...(event.type === 'cancel'
      ? { status: 'cancelled' as const }
      : event.type === 'subagent.done'
        ? { status: 'complete' as const, summary: event.summary }
        : { status: 'failed' as const, summary: failureMessage(event) }),
  })),
  notifyParentDone: enqueueSession(({ context, enqueue }) => {
    if (context.parent_call_id === null) return;
    enqueue.sendParent({
      type: 'subagent.done',
      call_id: context.parent_call_id ?? '',
      summary: context.summary ?? '',
      results: context.history,
    });
  }),
  notifyParentFailed: enqueueSession(({ context, enqueue }) => {
    if (context.parent_call_id === null) return;
    enqueue.sendParent({
      type: 'subagent.failed',
      call_id: context.parent_call_id ?? '',
      message: context.error?.message ?? 'failed',
    });
  }),
};
