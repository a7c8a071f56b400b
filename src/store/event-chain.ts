import { createHash } from 'node:crypto';
import { eventFrame } from '../protocol/event-frame.ts';
import type { OutboundEvent } from '../protocol/outbound.ts';
import type { ChainVerification, StoredEvent } from './store.ts';

/** The prev_hash of a session's first event. */
export const GENESIS_HASH = '0'.repeat(64);

export { canonicalJson } from '../protocol/event-frame.ts';

/**
 * sha256 over the previous hash and the event's one serialization (its canonical JSON, the
 * text that is stored and sent), so a row read back from jsonb hashes the same.
 */
export function chainHash(prevHash: string, event: OutboundEvent): string {
  return createHash('sha256').update(prevHash).update('\n').update(eventFrame(event)).digest('hex');
}

export function stripChain(event: StoredEvent): OutboundEvent {
  const { prev_hash: _prev, hash: _hash, ...rest } = event;
  return rest;
}

/** Walks a session's events in seq order and names the first one that does not chain. */
export function verifyEvents(sessionId: string, events: readonly StoredEvent[]): ChainVerification {
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  for (const event of events) {
    const fail = (problem: string): ChainVerification => ({
      ok: false,
      session_id: sessionId,
      events: events.length,
      broken_seq: event.seq,
      problem,
    });
    if (event.seq !== expectedSeq) return fail(`expected seq ${expectedSeq}, found ${event.seq}`);
    if (event.prev_hash !== prev) return fail('prev_hash does not match the previous event');
    if (chainHash(prev, stripChain(event)) !== event.hash)
      return fail('content does not match its hash');
    prev = event.hash;
    expectedSeq += 1;
  }
  return { ok: true, session_id: sessionId, events: events.length };
}
