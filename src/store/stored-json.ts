import type { OutboundEvent } from '../protocol/outbound.ts';
import { chainHash } from './event-chain.ts';
import { StoreError } from './store-error.ts';
import type { StoredEvent } from './store.ts';

/** A NUL escape that is not itself an escaped backslash: jsonb cannot store it. */
const JSON_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;

/** An event row as the batch writes it: execution_id is null, not absent, when unset. */
export type EventRow = Omit<StoredEvent, 'execution_id'> & { execution_id: string | null };

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
 * The row as it will read back: data goes through JSON (as jsonb will keep it) before it is
 * hashed, and only the stored envelope fields are hashed, so verifyEvents recomputes it.
 * Returns the row's JSON too, built around the data's one serialization.
 */
export function eventRow(event: OutboundEvent, prevHash: string): { row: EventRow; json: string } {
  const dataJson = storableJson(event.data, () => `session ${event.session_id}: seq ${event.seq}`);
  const stored = {
    type: event.type,
    session_id: event.session_id,
    seq: event.seq,
    timestamp: event.timestamp,
    state: event.state,
    ...(event.execution_id === undefined ? {} : { execution_id: event.execution_id }),
    data: JSON.parse(dataJson) as unknown,
  } as OutboundEvent;
  const hash = chainHash(prevHash, stored);
  const row = { ...stored, execution_id: event.execution_id ?? null, prev_hash: prevHash, hash };
  const json =
    `{"session_id":${JSON.stringify(row.session_id)},"seq":${row.seq},` +
    `"type":${JSON.stringify(row.type)},"state":${JSON.stringify(row.state)},` +
    `"execution_id":${JSON.stringify(row.execution_id)},` +
    `"timestamp":${JSON.stringify(row.timestamp)},"data":${dataJson},` +
    `"prev_hash":"${prevHash}","hash":"${hash}"}`;
  return { row, json };
}
