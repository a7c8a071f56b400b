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
  /** The approval request a decision decides (approve, reject, edit). */
  decides: string | undefined;
  /** Sent again after its connection dropped: its first send may have been applied. */
  resent: boolean;
  resolve(event: OutboundEvent): void;
  reject(error: SessionClientError): void;
}

/** Events that decide an approval request for good. */
const FINAL = new Set(['approved', 'edit_approved', 'rejected', 'approval_expired']);
/** How long a resent decision refused as already decided waits to see how it was decided. */
const DECIDED_GRACE_MS = 5_000;

/** Calls waiting for their answer, correlated by client `id` and by the events they cause. */
export function createCallTable(timeoutMs: number) {
  const calls = new Map<string, Call>();
  /** How each request a pending decision decides was decided, once an event said so. */
  const decided = new Map<string, OutboundEvent>();
  /** Resent decisions refused as already decided, waiting for how: the refusal to give. */
  const refused = new Map<Call, SessionClientError>();

  function settle(call: Call, outcome: { event: OutboundEvent } | { error: SessionClientError }) {
    calls.delete(call.id);
    refused.delete(call);
    const request = call.decides;
    if (request !== undefined && ![...calls.values()].some((c) => c.decides === request))
      decided.delete(request);
    if ('event' in outcome) call.resolve(outcome.event);
    else call.reject(outcome.error);
  }

  /**
   * A decision sent again after a drop, refused as already decided: most likely its first send
   * was applied. It settles as the request was decided (its own event, which may still be on
   * its way), and with the refusal when the request went another way or nothing says so soon.
   */
  function onRefusedResend(call: Call, error: SessionClientError): void {
    const seen = call.decides === undefined ? undefined : decided.get(call.decides);
    if (seen) return settle(call, call.settles(seen, null) ? { event: seen } : { error });
    refused.set(call, error);
    setTimeout(() => {
      if (refused.has(call)) settle(call, { error });
    }, DECIDED_GRACE_MS);
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
          decides: decisionOf(spec.frame),
          resent: false,
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
      const request = FINAL.has(event.type) ? requestOf(event) : undefined;
      for (const call of [...calls.values()]) {
        if (call.settles(event, before)) settle(call, { event });
        else if (request !== undefined && call.decides === request) {
          decided.set(request, event);
          const error = refused.get(call);
          if (error) settle(call, { error });
        }
      }
    },

    /** An error that answers a call's id rejects that call. */
    onError(event: OutboundOf<'error'>): void {
      const call = event.data.id === undefined ? undefined : calls.get(event.data.id);
      if (!call) return;
      const error = SessionClientError.fromEvent(event);
      if (call.resent && call.decides !== undefined && error.code === 'approval_already_decided')
        return onRefusedResend(call, error);
      settle(call, { error });
    },

    connectionLost(connection: number): void {
      for (const call of calls.values()) {
        if (call.sentOn !== connection) continue;
        if (call.retry === 'resend') {
          call.sentOn = null;
          call.resent = true;
        } else call.lost = true;
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

/** The request id of an approve, reject or edit message. */
function decisionOf(frame: string): string | undefined {
  const message = JSON.parse(frame) as { type?: unknown; request_id?: unknown };
  const decides =
    message.type === 'approve' || message.type === 'reject' || message.type === 'edit';
  return decides && typeof message.request_id === 'string' ? message.request_id : undefined;
}

function requestOf(event: OutboundEvent): string | undefined {
  const id = (event.data as { request_id?: unknown }).request_id;
  return typeof id === 'string' ? id : undefined;
}

function timeoutText(spec: CallSpec): string {
  const type = (JSON.parse(spec.frame) as { type?: unknown }).type;
  return `no answer to ${String(type)} (${spec.id}) in time`;
}
