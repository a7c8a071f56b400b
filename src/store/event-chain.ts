import { createHash } from 'node:crypto';
import type { OutboundEvent } from '../protocol/outbound.ts';
import type { ChainVerification, StoredEvent } from './store.ts';

/** The prev_hash of a session's first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every depth, so a jsonb round trip hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** sha256 over the previous hash and the canonical encoding of the event. */
export function chainHash(prevHash: string, event: OutboundEvent): string {
  return createHash('sha256')
    .update(prevHash)
    .update('\n')
    .update(canonicalJson(event))
    .digest('hex');
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
