import type { AnyActorRef } from 'xstate';
import type { SessionEvent } from '../../machines/session.events.ts';
import type { SessionEmitted } from '../../machines/session.emitted.ts';
import type { SessionContext, SessionState } from '../../machines/session.types.ts';
import type { OutboundEvent } from '../protocol/outbound.ts';

interface MachineSnapshotLike {
  value: unknown;
  context: SessionContext;
  /** Absent when the actor is not a machine (the failing stand-in past the depth limit). */
  children?: Record<string, AnyActorRef | undefined>;
}

export function snapshotOf(actor: AnyActorRef): MachineSnapshotLike {
  return actor.getSnapshot() as MachineSnapshotLike;
}

/** The top-level state name: `{ executing: 'tool' }` is `executing` on the wire. */
export function topState(value: unknown): SessionState {
  if (typeof value === 'string') return value as SessionState;
  return Object.keys(value as object)[0] as SessionState;
}

/** The subagent child of an actor, when it is running one. */
export function subagentOf(actor: AnyActorRef): AnyActorRef | undefined {
  return snapshotOf(actor).children?.['subagent'];
}

export function subagentIdOf(actor: AnyActorRef): string {
  return `sub_${snapshotOf(actor).context.parent_call_id ?? ''}`;
}

/** Wraps what a (sub)agent emitted in the wire envelope: seq, time, the session's state. */
export function toOutbound(
  emitted: SessionEmitted,
  envelope: {
    session_id: string;
    seq: number;
    timestamp: string;
    state: SessionState;
    execution_id: string | null;
  },
  subagentId: string | null,
): OutboundEvent {
  const data =
    subagentId !== null && emitted.type !== 'subagent_start' && emitted.type !== 'subagent_end'
      ? { ...emitted.data, subagent_id: subagentId }
      : emitted.data;
  const event = {
    type: emitted.type,
    session_id: envelope.session_id,
    seq: envelope.seq,
    timestamp: envelope.timestamp,
    state: envelope.state,
    ...(envelope.execution_id !== null ? { execution_id: envelope.execution_id } : {}),
    data,
  };
  return event as OutboundEvent;
}

/** Whether the actor's current state takes this event (the not_allowed_in_state check). */
export function accepts(actor: AnyActorRef, event: SessionEvent): boolean {
  return (actor.getSnapshot() as { can(event: SessionEvent): boolean }).can(event);
}
