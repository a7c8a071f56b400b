import { z } from 'zod';
import { emittedDataSchemas, policyDataSchema } from '../../machines/session.emitted.ts';
import { sessionStates } from '../../machines/session.types.ts';

export const pendingApprovalSchema = z.object({
  request_id: z.string(),
  call_id: z.string(),
  tool: z.string(),
  args: z.record(z.string(), z.unknown()),
  reason: z.string(),
  expires_at: z.string(),
  subagent_id: z.string().optional(),
  /** Set when this asks again for a call whose outcome was unknown after a crash: that call. */
  replaces: z.string().optional(),
  /** The policy in force (absent: the default, one vote); after an escalation, the new one. */
  policy: policyDataSchema.optional(),
  /** The votes counted so far, in order (absent: none yet). */
  votes: z
    .array(z.object({ by: z.string(), vote: z.enum(['approve', 'reject', 'edit']) }))
    .optional(),
  /** How many times it has been escalated. */
  escalations: z.number().int().optional(),
  /** The args of `approval_required` when an edit put other ones (`args`) to the vote. */
  original_args: z.record(z.string(), z.unknown()).optional(),
});
export type PendingApproval = z.infer<typeof pendingApprovalSchema>;

/** The `data` of every outbound event type: what sessions emit, plus the per-socket replies. */
export const outboundDataSchemas = {
  ...emittedDataSchemas,
  connected: z.object({
    session_id: z.string(),
    user_id: z.string(),
    state: z.enum(sessionStates),
    last_seq: z.number().int().nonnegative(),
    pending_approvals: z.array(pendingApprovalSchema),
  }),
  pong: z.object({ id: z.string().optional() }),
  /** Assistant text as it streams; not stored (the `message` that follows is). */
  message_delta: z.object({ message_id: z.string(), delta: z.string() }),
} as const;

export type OutboundType = keyof typeof outboundDataSchemas;
export const outboundTypes = Object.keys(outboundDataSchemas) as OutboundType[];

const envelope = {
  session_id: z.string(),
  seq: z.number().int().nonnegative(),
  timestamp: z.iso.datetime(),
  state: z.enum(sessionStates),
  execution_id: z.string().optional(),
};

function eventSchema<T extends OutboundType>(type: T) {
  return z.object({ type: z.literal(type), ...envelope, data: outboundDataSchemas[type] });
}

export const outboundEventSchema = z.discriminatedUnion('type', [
  eventSchema('connected'),
  eventSchema('thinking'),
  eventSchema('tool_call'),
  eventSchema('tool_result'),
  eventSchema('approval_required'),
  eventSchema('approval_vote'),
  eventSchema('approval_escalated'),
  eventSchema('approved'),
  eventSchema('rejected'),
  eventSchema('edit_approved'),
  eventSchema('approval_expired'),
  eventSchema('cancelled'),
  eventSchema('complete'),
  eventSchema('error'),
  eventSchema('subagent_start'),
  eventSchema('subagent_end'),
  eventSchema('pong'),
  eventSchema('message'),
  eventSchema('message_delta'),
]);
export type OutboundEvent = z.infer<typeof outboundEventSchema>;
export type OutboundOf<T extends OutboundType> = Extract<OutboundEvent, { type: T }>;
