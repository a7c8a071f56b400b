import type { OutboundEvent } from '../protocol/outbound.ts';

/**
 * Where an incoming event stands in the session's stream, given the last seq delivered:
 * a reply to this socket (not stored, no place in the stream), the next event, one already
 * delivered, or one that leaves a hole.
 */
export type Arrival = 'reply' | 'next' | 'duplicate' | 'gap';

/**
 * `connected`, `pong`, `message_delta` (streamed text, never stored) and an `error` answering a
 * client `id` are replies: they carry the last stored seq, which says nothing about this socket's place in the stream (during a replay it
 * is ahead of it). This client tags every message, so an `error` without `id` is stored.
 */
export function isReply(event: OutboundEvent): boolean {
  return (
    event.type === 'connected' ||
    event.type === 'pong' ||
    event.type === 'message_delta' ||
    (event.type === 'error' && event.data.id !== undefined)
  );
}

export function arrivalOf(event: OutboundEvent, lastSeq: number): Arrival {
  if (isReply(event)) return 'reply';
  if (event.seq <= lastSeq) return 'duplicate';
  return event.seq === lastSeq + 1 ? 'next' : 'gap';
}
