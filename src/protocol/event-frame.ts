import type { OutboundEvent } from './outbound.ts';

/** Deeper than this is a cycle, or nothing the log should hold (the codec bounds messages at 32). */
const MAX_DEPTH = 1_000;

/**
 * `value` as JSON with object keys sorted at every depth, encoded as JSON.stringify would
 * encode it otherwise (toJSON, undefined and functions left out of objects and null in
 * arrays, non-finite numbers as null): the text reads back to the same value, and a jsonb
 * round trip of it encodes to the same text again.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '', 0) ?? 'null';
}

function encode(input: unknown, key: string, depth: number): string | undefined {
  let value = input;
  if (typeof value === 'object' && value !== null) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') value = (toJSON as (key: string) => unknown).call(value, key);
    if (value instanceof Number || value instanceof String || value instanceof Boolean)
      value = value.valueOf();
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return JSON.stringify(value); // throws, as JSON.stringify does
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return 'null';
  if (depth >= MAX_DEPTH) throw new TypeError('a cyclic or too deeply nested value');
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i += 1) {
      if (i > 0) out += ',';
      out += encode(value[i], String(i), depth + 1) ?? 'null';
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = '{';
  for (const name of Object.keys(record).sort()) {
    const text = encode(record[name], name, depth + 1);
    if (text === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(name)}:${text}`;
  }
  return `${out}}`;
}

const frames = new WeakMap<OutboundEvent, string>();

/**
 * An outbound event's one serialization, made once per event object: the canonical JSON of
 * its envelope and data (execution_id left out when unset), keys in sorted order. The store
 * hashes exactly this text into the session's chain and stores it as the log row, and every
 * socket of the session is sent the same string. Events are not changed once made.
 */
export function eventFrame(event: OutboundEvent): string {
  let frame = frames.get(event);
  if (frame === undefined) {
    const executionId = event.execution_id ?? undefined;
    frame =
      `{"data":${canonicalJson(event.data)},` +
      (executionId === undefined ? '' : `"execution_id":${JSON.stringify(executionId)},`) +
      `"seq":${JSON.stringify(event.seq)},"session_id":${JSON.stringify(event.session_id)},` +
      `"state":${JSON.stringify(event.state)},"timestamp":${JSON.stringify(event.timestamp)},` +
      `"type":${JSON.stringify(event.type)}}`;
    frames.set(event, frame);
  }
  return frame;
}
