import type { SessionState } from '../../machines/session.types.ts';
import type { OutboundEvent, OutboundOf } from '../protocol/outbound.ts';
import { SessionClientError } from './errors.ts';

/**
 * What to do with a call whose message went out on a connection that then dropped before
 * the answer came: send it again once reconnected (safe when a repeat cannot do harm), or
 * settle it from the replayed events, and failing that report its outcome as unknown.
 */
export type RetryPolicy = 'resend' | 'settle';

export interface CallSpec {
  id: string;
  frame: string;
  retry: RetryPolicy;
  /** True for the event that completes the call; `before` is the state before the event. */
  settles(event: OutboundEvent, before: SessionState | null): boolean;
}

interface Call extends CallSpec {
  /** The connection the message went out on; null while it waits to be sent. */
  sentOn: number | null;
  lost: boolean;
  resolve(event: OutboundEvent): void;
  reject(error: SessionClientError): void;
}

/** Calls waiting for their answer, correlated by client `id` and by the events they cause. */
export function createCallTable(timeoutMs: number) {
  const calls = new Map<string, Call>();

  function settle(call: Call, outcome: { event: OutboundEvent } | { error: SessionClientError }) {
    calls.delete(call.id);
    if ('event' in outcome) call.resolve(outcome.event);
    else call.reject(outcome.error);
  }

  return {
    add(spec: CallSpec): Promise<OutboundEvent> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const call = calls.get(spec.id);
          if (call) settle(call, { error: new SessionClientError('timeout', timeoutText(spec)) });
        }, timeoutMs);
        calls.set(spec.id, {
          ...spec,
          sentOn: null,
          lost: false,
          resolve(event) {
            clearTimeout(timer);
            resolve(event);
          },
          reject(error) {
            clearTimeout(timer);
            reject(error);
          },
        });
      });
    },

    /** Calls not sent yet, oldest first (Map order is insertion order). */
    unsent(): { id: string; frame: string; markSent(connection: number): void }[] {
      return [...calls.values()]
        .filter((call) => call.sentOn === null)
        .map((call) => ({ id: call.id, frame: call.frame, markSent: (c) => (call.sentOn = c) }));
    },

    /** A stored event or a pong: resolves the calls it completes. */
    onEvent(event: OutboundEvent, before: SessionState | null): void {
      for (const call of [...calls.values()]) {
        if (call.settles(event, before)) settle(call, { event });
      }
    },

    /** An error that answers a call's id rejects that call. */
    onError(event: OutboundOf<'error'>): void {
      const call = event.data.id === undefined ? undefined : calls.get(event.data.id);
      if (call) settle(call, { error: SessionClientError.fromEvent(event) });
    },

    connectionLost(connection: number): void {
      for (const call of calls.values()) {
        if (call.sentOn !== connection) continue;
        if (call.retry === 'resend') call.sentOn = null;
        else call.lost = true;
      }
    },

    /** After the replay: a lost call that no replayed event settled has an unknown outcome. */
    settleLost(): void {
      for (const call of [...calls.values()]) {
        if (!call.lost) continue;
        settle(call, {
          error: new SessionClientError(
            'connection_lost',
            `the connection dropped before ${call.id} was answered; it may or may not have run`,
          ),
        });
      }
    },

    failAll(error: SessionClientError): void {
      for (const call of [...calls.values()]) settle(call, { error });
    },
  };
}

function timeoutText(spec: CallSpec): string {
  const type = (JSON.parse(spec.frame) as { type?: unknown }).type;
  return `no answer to ${String(type)} (${spec.id}) in time`;
}
