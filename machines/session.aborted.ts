import type { AnyActorRef } from 'xstate';
import type { Aborted } from './session.emitted.ts';
import type { SessionContext } from './session.types.ts';

/** The state a cancel leaves: what it aborts. */
export type CancelledFrom = 'thinking' | 'awaiting_approval' | 'tool' | 'subagent';

/** What a cancel stops, read from the live snapshot of this actor and its subagent. */
export function abortedWork(context: SessionContext, self: AnyActorRef, where: string): Aborted[] {
  const call = context.current_call;
  if (where === 'thinking') return [{ kind: 'planner', id: context.execution_id ?? '' }];
  if (where === 'awaiting_approval' && context.pending) {
    return [{ kind: 'approval', id: context.pending.request_id, tool: context.pending.tool }];
  }
  if (where === 'tool' && call) return [{ kind: 'tool', id: call.call_id, tool: call.tool }];
  if (where === 'subagent' && call) {
    // `children?.` and `context ?`: a pure transition (xstate/graph) has a `self` with no
    // children, and a child that is not a machine (the depth limit) has no context.
    const child = (self.getSnapshot() as { children?: Record<string, AnyActorRef | undefined> })
      .children?.['subagent'];
    const childSnapshot = child?.getSnapshot() as
      { value: unknown; context?: SessionContext } | undefined;
    const inner = childSnapshot?.context
      ? abortedWork(childSnapshot.context, child!, innerWhere(childSnapshot.value))
      : [];
    return [{ kind: 'subagent', id: `sub_${call.call_id}`, tool: call.tool }, ...inner];
  }
  return [];
}

function innerWhere(value: unknown): string {
  if (typeof value === 'string') return value;
  const executing = (value as { executing?: string }).executing;
  return executing ?? '';
}
