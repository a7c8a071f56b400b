import { z } from 'zod';
import { commandSchemas } from '../../machines/session.events.ts';

/** A client may tag any message with an `id`; the reply or error it causes echoes it. */
const clientId = { id: z.string().min(1).max(128).optional() };

export const inboundSchemas = {
  execute: commandSchemas.execute.extend(clientId),
  approve: commandSchemas.approve.extend(clientId),
  reject: commandSchemas.reject.extend(clientId),
  edit: commandSchemas.edit.extend(clientId),
  cancel: commandSchemas.cancel.extend(clientId),
  ping: z.object({ type: z.literal('ping'), ...clientId }),
} as const;

export type InboundType = keyof typeof inboundSchemas;
export const inboundTypes = Object.keys(inboundSchemas) as InboundType[];

export const inboundMessageSchema = z.discriminatedUnion('type', [
  inboundSchemas.execute,
  inboundSchemas.approve,
  inboundSchemas.reject,
  inboundSchemas.edit,
  inboundSchemas.cancel,
  inboundSchemas.ping,
]);
export type InboundMessage = z.infer<typeof inboundMessageSchema>;
export type InboundOf<T extends InboundType> = Extract<InboundMessage, { type: T }>;

/** The messages that act on a session (everything but ping). */
export type Command = Exclude<InboundMessage, { type: 'ping' }>;
