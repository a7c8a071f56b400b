import { outboundEventSchema, type OutboundEvent } from '../protocol/outbound.ts';

export type FrameResult = { ok: true; event: OutboundEvent } | { ok: false; message: string };

/**
 * A frame from the bus -> the event it carries, or why not. The event is the parsed text
 * itself once the schema accepts it (not zod's copy), so `eventFrame` of it is the same text.
 */
export function decodeEventFrame(text: string): FrameResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, message: 'not JSON' };
  }
  const parsed = outboundEventSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(root)';
    return { ok: false, message: `not an event: ${where}: ${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, event: value as OutboundEvent };
}
