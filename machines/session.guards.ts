import { actorError, delegateArgsSchema, plannerOutput } from './session.actors.ts';
import type { SessionEvent } from './session.events.ts';
import { decides, escalates, voteRefusal, type VoteKind } from './session.policy.ts';
import { isToolOutcomeUnknown, type SessionContext } from './session.types.ts';

/** The session's guards, named in the chart. */

interface GuardArgs {
  context: SessionContext;
  event: SessionEvent;
}

const matches = ({ context, event }: GuardArgs) =>
  'request_id' in event && event.request_id === context.pending?.request_id;

/** A vote on the pending request that its policy lets count (a replayed decision counted once). */
function countsVote({ context, event }: GuardArgs): boolean {
  if (!matches({ context, event }) || !context.pending) return false;
  if (event.type !== 'approve' && event.type !== 'reject' && event.type !== 'edit') return false;
  if (event.replayed) return true;
  const voter = { user_id: event.by, roles: event.roles ?? [] };
  return voteRefusal(context.pending, context.executed_by, voter) === null;
}

/** A counted vote of this kind that decides the request (a replayed one always did). */
function decidingVote(args: GuardArgs, kind: VoteKind): boolean {
  const { context, event } = args;
  if (!countsVote(args) || !context.pending) return false;
  return ('replayed' in event && event.replayed === true) || decides(context.pending, kind);
}

export const sessionGuards = {
  isFinal: ({ event }: GuardArgs) => plannerOutput(event)?.kind === 'final',
  needsApproval: ({ event }: GuardArgs) => {
    const output = plannerOutput(event);
    return output?.kind === 'call' && output.approval !== null;
  },
  isDelegate: ({ context }: GuardArgs) =>
    context.current_call?.tool === 'delegate' &&
    delegateArgsSchema.safeParse(context.current_call.args).success,
  matchesPending: matches,
  countsVote,
  reachesQuorum: (args: GuardArgs) =>
    decidingVote(args, 'approve') && !args.context.pending?.original_args,
  /** The quorum is reached on args an earlier edit replaced: the call runs with those. */
  reachesQuorumOnEdit: (args: GuardArgs) =>
    decidingVote(args, 'approve') && args.context.pending?.original_args !== undefined,
  editReachesQuorum: (args: GuardArgs) => decidingVote(args, 'edit'),
  rejectionsReached: (args: GuardArgs) => decidingVote(args, 'reject'),
  escalates: ({ context, event }: GuardArgs) =>
    matches({ context, event }) &&
    !('replayed' in event && event.replayed) &&
    context.pending !== null &&
    escalates(context.pending),
  isCurrentExecution: ({ context, event }: GuardArgs) =>
    event.type === 'cancel' &&
    (event.execution_id === undefined || event.execution_id === context.execution_id),
  isOutcomeUnknown: ({ event }: GuardArgs) => isToolOutcomeUnknown(actorError(event)),
  isSubagent: ({ context }: GuardArgs) => context.parent_call_id !== null,
};
