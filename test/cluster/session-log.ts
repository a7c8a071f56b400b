import { SESSION_MACHINE_VERSION, type SessionState } from '../../machines/session.types.ts';
import { eventFrame } from '../../src/protocol/event-frame.ts';
import type { OutboundEvent } from '../../src/protocol/outbound.ts';
import type { Store } from '../../src/store/store.ts';

/** The state each seq's event carries: it moves, so state() can be checked against the last. */
export const stateOf = (seq: number): SessionState => (seq % 2 === 0 ? 'executing' : 'thinking');

export function makeEvent(sessionId: string, seq: number): OutboundEvent {
  return {
    type: 'tool_call',
    session_id: sessionId,
    seq,
    timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
    state: stateOf(seq),
    execution_id: 'exec_1',
    data: { call_id: `call_${seq}`, tool: 'lookup', args: { n: seq } },
  };
}

export function makeDelta(sessionId: string, seq: number, text: string): OutboundEvent {
  return {
    type: 'message_delta',
    session_id: sessionId,
    seq,
    timestamp: new Date().toISOString(),
    state: 'thinking',
    execution_id: 'exec_1',
    data: { message_id: 'msg_1', delta: text },
  };
}

/** A session in the store whose events the test appends one by one, as its owner would. */
export async function createSessionLog(store: Store, sessionId: string) {
  await store.createSession({
    id: sessionId,
    owner: 'user_1',
    state: 'idle',
    machine_version: SESSION_MACHINE_VERSION,
  });
  const events: OutboundEvent[] = [];
  return {
    events,
    /** Stores the next `count` events; resolves with their frames, in seq order. */
    async append(count = 1): Promise<string[]> {
      const made = Array.from({ length: count }, (_, i) =>
        makeEvent(sessionId, events.length + i + 1),
      );
      await store.appendEvents(made);
      events.push(...made);
      return made.map((event) => eventFrame(event));
    },
  };
}
