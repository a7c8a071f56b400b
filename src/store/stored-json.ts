import { eventFrame } from '../protocol/event-frame.ts';
import type { OutboundEvent } from '../protocol/outbound.ts';
import { chainHash } from './event-chain.ts';
import { StoreError } from './store-error.ts';

/** A NUL escape that is not itself an escaped backslash: jsonb cannot store it. */
const JSON_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;

/**
 * `value` as JSON text that jsonb can hold, serialized once: the same text goes into the
 * batch parameter. `what` names the value in the error when it holds a NUL character.
 */
export function storableJson(value: unknown, what: () => string): string {
  const json = JSON.stringify(value) ?? 'null';
  if (JSON_NUL.test(json))
    throw new StoreError('unstorable_event', `${what()} holds a NUL character`);
  return json;
}

/**
 * The row of an event and its JSON for the batch parameter, around the event's one
 * serialization (`eventFrame`): its hash is over that text, and the row's JSON is that text
 * with the chain fields added, so data is serialized once for the hash, the row and the
 * sockets. jsonb keeps the same value, so verifyEvents recomputes the hash from the row.
 */
export function eventRow(event: OutboundEvent, prevHash: string): { hash: string; json: string } {
  const frame = eventFrame(event);
  if (JSON_NUL.test(frame))
    throw new StoreError(
      'unstorable_event',
      `session ${event.session_id}: seq ${event.seq} holds a NUL character`,
    );
  const hash = chainHash(prevHash, event);
  return { hash, json: `${frame.slice(0, -1)},"prev_hash":"${prevHash}","hash":"${hash}"}` };
}
