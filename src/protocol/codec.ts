import { inboundMessageSchema, inboundTypes, type InboundMessage } from './inbound.ts';
import type { OutboundEvent } from './outbound.ts';
import { describeUnstorable, findUnstorable } from './storable-json.ts';

export type DecodeErrorCode =
  'invalid_json' | 'unknown_type' | 'invalid_message' | 'binary_not_supported';

export interface DecodeError {
  code: DecodeErrorCode;
  message: string;
  /** The client's `id`, when the frame was JSON with a string `id`. */
  id?: string;
}

export type DecodeResult =
  { ok: true; message: InboundMessage } | { ok: false; error: DecodeError };

const MAX_ISSUES = 3;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Bytes (or text) from a socket -> a valid inbound message, or a typed error. Never throws. */
export function decodeInbound(
  frame: ArrayBuffer | Uint8Array | string,
  isBinary = false,
): DecodeResult {
  if (isBinary) {
    return fail('binary_not_supported', 'binary frames are not supported; send JSON text frames');
  }
  let text: string;
  try {
    text = typeof frame === 'string' ? frame : decoder.decode(frame);
  } catch {
    return fail('invalid_json', 'frame is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('invalid_json', 'frame is not valid JSON');
  }
  return decodeValue(value);
}

/** An already-parsed JSON value -> a valid inbound message, or a typed error. Never throws. */
export function decodeValue(value: unknown): DecodeResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('invalid_message', 'a message must be a JSON object with a "type"');
  }
  const record = value as Record<string, unknown>;
  const id = typeof record['id'] === 'string' ? record['id'] : undefined;
  const type = record['type'];
  if (typeof type !== 'string') return fail('invalid_message', 'missing string field "type"', id);
  if (!(inboundTypes as string[]).includes(type)) {
    return fail('unknown_type', `unknown message type "${type.slice(0, 64)}"`, id);
  }
  // Before the schema: nothing recursive may see a value nested too deep.
  const unstorable = findUnstorable(value);
  if (unstorable) return fail('invalid_message', describeUnstorable(unstorable), id);
  const parsed = inboundMessageSchema.safeParse(value);
  if (parsed.success) return { ok: true, message: parsed.data };
  const detail = parsed.error.issues
    .slice(0, MAX_ISSUES)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
  return fail('invalid_message', `invalid "${type}" message: ${detail}`, id);
}

export function encodeOutbound(event: OutboundEvent): string {
  return JSON.stringify(event);
}

function fail(code: DecodeErrorCode, message: string, id?: string): DecodeResult {
  return { ok: false, error: id === undefined ? { code, message } : { code, message, id } };
}
