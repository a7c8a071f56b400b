import { actorError, delegateArgsSchema, plannerOutput } from './session.actors.ts';
import type { SessionEvent } from './session.events.ts';
import { isToolOutcomeUnknown, type SessionContext } from './session.types.ts';

/** The session's guards, named in the chart. */

interface GuardArgs {
  context: SessionContext;
  event: SessionEvent;
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
  matchesPending: ({ context, event }: GuardArgs) =>
    'request_id' in event && event.request_id === context.pending?.request_id,
  isCurrentExecution: ({ context, event }: GuardArgs) =>
    event.type === 'cancel' &&
    (event.execution_id === undefined || event.execution_id === context.execution_id),
  isOutcomeUnknown: ({ event }: GuardArgs) => isToolOutcomeUnknown(actorError(event)),
  isSubagent: ({ context }: GuardArgs) => context.parent_call_id !== null,
};
