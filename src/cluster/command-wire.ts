import { z } from 'zod';
import { AppError, isAppError, toWireError } from '../errors.ts';
import { decodeValue } from '../protocol/codec.ts';
import type { Command } from '../protocol/inbound.ts';
import { pendingApprovalSchema, type PendingApproval } from '../protocol/outbound.ts';
import { sessionStates, type SessionState } from '../../machines/session.types.ts';
import type { BallotView } from '../runtime/ballots.ts';

/** A command forwarded to the session's owner: the validated inbound message and its sender. */
export interface CommandRequest {
  /** As the client sent it (its `id` kept, for idempotence), already validated at the edge. */
  command: Command;
  by: string;
  roles: string[];
  /** The node the client is connected to. */
  origin: string;
}

export interface CommandReplyError {
  code: string;
  message: string;
  status: number;
  retry_after_ms?: number;
  /** The AppError's details other than retry_after_ms, for the forwarding node's AppError. */
  data?: Record<string, unknown>;
}

/**
 * A read of the session as its owner holds it, for another node's socket (`connected`) or
 * REST read: its state, pending approvals and their ballots as `view` (the voter) sees them.
 */
export interface ViewRequest {
  view: { user_id: string; roles: string[] };
  origin: string;
}

/** What travels on a session's command subject. */
export type BusRequest = CommandRequest | ViewRequest;

/** The owner's answer to a view request. */
export interface SessionViewReply {
  owner: string;
  state: SessionState;
  last_seq: number;
  pending_approvals: PendingApproval[];
  /** The live ballot of each pending request, as the voter of the request sees it. */
  ballots: Record<string, BallotView>;
}

/**
 * The owner's answer: the command was applied (as `runtime.send` resolved), or the view
 * asked for, or why not.
 */
export type CommandReply =
  { ok: true; view?: SessionViewReply } | { ok: false; error: CommandReplyError };
export type BusReply = CommandReply;

export type WireResult<T> = { ok: true; value: T } | { ok: false; message: string };

const viewEnvelope = z.object({
  view: z.object({
    user_id: z.string().max(1_000),
    roles: z.array(z.string().max(1_000)).max(1_000),
  }),
  origin: z.string().min(1).max(256),
});

const viewReplySchema = z.object({
  owner: z.string(),
  state: z.enum(sessionStates),
  last_seq: z.number().int().nonnegative(),
  pending_approvals: z.array(pendingApprovalSchema),
  // Built by the owner's runtime (ballots.ts); checked for shape, not field by field.
  ballots: z.record(z.string(), z.record(z.string(), z.unknown())),
});

const requestEnvelope = z.object({
  command: z.unknown(),
  by: z.string().min(1).max(1_000),
  roles: z.array(z.string().max(1_000)).max(1_000),
  origin: z.string().min(1).max(256),
});

const replySchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), view: viewReplySchema.optional() }),
  z.object({
    ok: z.literal(false),
    error: z.object({
      code: z.string().min(1).max(128),
      message: z.string().max(10_000),
      status: z.number().int().min(400).max(599),
      retry_after_ms: z.number().int().nonnegative().optional(),
      data: z.record(z.string(), z.unknown()).optional(),
    }),
  }),
]);

const utf8 = new TextDecoder('utf-8', { fatal: true });

export const encodeRequest = (request: BusRequest): string => JSON.stringify(request);
export const encodeReply = (reply: CommandReply): string => JSON.stringify(reply);

/** Bytes from the bus -> a forwarded command with a valid inbound message, or why not. */
export function decodeRequest(data: Uint8Array | string): WireResult<BusRequest> {
  const json = parse(data);
  if (!json.ok) return json;
  if (typeof json.value === 'object' && json.value !== null && 'view' in json.value) {
    const view = viewEnvelope.safeParse(json.value);
    return view.success ? { ok: true, value: view.data } : invalid('view request', view.error);
  }
  const envelope = requestEnvelope.safeParse(json.value);
  if (!envelope.success) return invalid('request', envelope.error);
  const decoded = decodeValue(envelope.data.command);
  if (!decoded.ok) return { ok: false, message: `forwarded command: ${decoded.error.message}` };
  const command = decoded.message;
  if (command.type === 'ping') return { ok: false, message: 'a ping is not forwarded' };
  return { ok: true, value: { ...envelope.data, command } };
}

/** Bytes from the bus -> the owner's reply, or why it is not one. */
export function decodeReply(data: Uint8Array | string): WireResult<CommandReply> {
  const json = parse(data);
  if (!json.ok) return json;
  const reply = replySchema.safeParse(json.value);
  if (!reply.success) return invalid('reply', reply.error);
  const value = reply.data;
  if (value.ok) {
    if (!value.view) return { ok: true, value: { ok: true } };
    const view = {
      ...value.view,
      ballots: value.view.ballots as unknown as Record<string, BallotView>,
    };
    return { ok: true, value: { ok: true, view } };
  }
  // Rebuilt without the optional keys zod leaves undefined (exactOptionalPropertyTypes).
  const { code, message, status, retry_after_ms, data: extra } = value.error;
  const error: CommandReplyError = { code, message, status };
  if (retry_after_ms !== undefined) error.retry_after_ms = retry_after_ms;
  if (extra !== undefined) error.data = extra;
  return { ok: true, value: { ok: false, error } };
}

/** What the owner answers for a command that threw: the wire error, details kept for the node. */
export function replyOf(error: unknown): CommandReply {
  const wire = toWireError(error);
  const reply: CommandReplyError = { code: wire.code, message: wire.message, status: wire.status };
  if (wire.retryAfterMs !== undefined) reply.retry_after_ms = wire.retryAfterMs;
  if (isAppError(error) && error.details) {
    const { retry_after_ms: _retry, ...rest } = error.details;
    if (Object.keys(rest).length > 0) reply.data = rest;
  }
  return { ok: false, error: reply };
}

/** A refused forward as the AppError the owner threw, for the forwarding node to answer with. */
export function errorOf(error: CommandReplyError): AppError {
  const details: Record<string, unknown> = { ...error.data };
  if (error.retry_after_ms !== undefined) details['retry_after_ms'] = error.retry_after_ms;
  const hasDetails = Object.keys(details).length > 0;
  return new AppError(error.code, error.message, error.status, hasDetails ? details : undefined);
}

function parse(data: Uint8Array | string): WireResult<unknown> {
  try {
    return { ok: true, value: JSON.parse(typeof data === 'string' ? data : utf8.decode(data)) };
  } catch {
    return { ok: false, message: 'not UTF-8 JSON' };
  }
}

function invalid(what: string, error: z.ZodError): WireResult<never> {
  const detail = error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
  return { ok: false, message: `invalid forwarded ${what}: ${detail}` };
}
