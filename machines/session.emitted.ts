import { z } from 'zod';
import { argsSchema } from './session.events.ts';

/** The policy in force, as `approval_required` carries it (defaults filled in). */
export const policyDataSchema = z.object({
  quorum: z.number().int(),
  rejections_needed: z.number().int(),
  roles: z.array(z.string()).optional(),
  users: z.array(z.string()).optional(),
  exclude_requester: z.boolean(),
  escalate: z
    .object({ to: z.string(), ttl_ms: z.number().int(), times: z.number().int() })
    .optional(),
});

/** One user's id, or (when a policy needs more than one vote) every approver's, in vote order. */
const deciders = z.union([z.string(), z.array(z.string())]);
const voteKind = z.enum(['approve', 'reject', 'edit']);

/**
 * What a session emits as it moves, defined once: the `data` of each outbound event type
 * that the statechart produces. `src/protocol` wraps these in the wire envelope.
 */
const fromSubagent = { subagent_id: z.string().optional() };

export const errorDataSchema = z.object({
  code: z.string(),
  message: z.string(),
  id: z.string().optional(),
  request_id: z.string().optional(),
  call_id: z.string().optional(),
  /** With `rate_limited`: when the next message will be accepted. */
  retry_after_ms: z.number().int().optional(),
  ...fromSubagent,
});

export const abortedSchema = z.object({
  kind: z.enum(['planner', 'tool', 'approval', 'subagent']),
  id: z.string(),
  tool: z.string().optional(),
});
export type Aborted = z.infer<typeof abortedSchema>;

export const tokenUsageSchema = z.object({
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
});

export const emittedDataSchemas = {
  /** One model turn, stored before the tool calls or the `complete` it leads to. */
  message: z.object({
    message_id: z.string(),
    text: z.string(),
    model: z.string(),
    finish_reason: z.string().nullable(),
    usage: tokenUsageSchema.nullable(),
    tool_calls: z.array(z.object({ call_id: z.string(), tool: z.string(), args: argsSchema })),
    /** Set when none of the turn's calls ran (they could not): why. The model was asked again. */
    discarded: z.string().optional(),
    ...fromSubagent,
  }),
  thinking: z.object({
    execution_id: z.string(),
    command: z.string(),
    plan_steps: z.number().int().nullable(),
    ...fromSubagent,
  }),
  tool_call: z.object({ call_id: z.string(), tool: z.string(), args: argsSchema, ...fromSubagent }),
  tool_result: z.object({
    call_id: z.string(),
    tool: z.string(),
    result: z.unknown(),
    ...fromSubagent,
  }),
  approval_required: z.object({
    request_id: z.string(),
    call_id: z.string(),
    tool: z.string(),
    args: argsSchema,
    reason: z.string(),
    expires_at: z.string(),
    /** The approval policy in force; absent under the default one (one vote, as before). */
    policy: policyDataSchema.optional(),
    ...fromSubagent,
  }),
  /** An accepted vote that a policy counts (quorum or rejections above one). */
  approval_vote: z.object({
    request_id: z.string(),
    call_id: z.string(),
    decided_by: z.string(),
    vote: voteKind,
    /** Votes of this kind so far, this one included (for `edit`: 1, the votes were reset). */
    votes_so_far: z.number().int(),
    needed: z.number().int(),
    /** With `edit`: the args voted on from now on, and whose earlier votes the edit voided. */
    edited_args: argsSchema.optional(),
    reset_votes: z.array(z.string()).optional(),
    ...fromSubagent,
  }),
  /** Nobody decided by `expires_at`: the request goes to another role with a new deadline. */
  approval_escalated: z.object({
    request_id: z.string(),
    call_id: z.string(),
    to: z.string(),
    expires_at: z.string(),
    /** How many times it has been escalated now, and how many the policy allows. */
    escalations: z.number().int(),
    times: z.number().int(),
    ...fromSubagent,
  }),
  approved: z.object({
    request_id: z.string(),
    call_id: z.string(),
    decided_by: deciders,
    ...fromSubagent,
  }),
  rejected: z.object({
    request_id: z.string(),
    call_id: z.string(),
    decided_by: deciders,
    reason: z.string(),
    ...fromSubagent,
  }),
  edit_approved: z.object({
    request_id: z.string(),
    call_id: z.string(),
    decided_by: deciders,
    original_args: argsSchema,
    edited_args: argsSchema,
    ...fromSubagent,
  }),
  approval_expired: z.object({
    request_id: z.string(),
    call_id: z.string(),
    expires_at: z.string(),
    ...fromSubagent,
  }),
  cancelled: z.object({
    execution_id: z.string(),
    cancelled_by: z.string(),
    aborted: z.array(abortedSchema),
    ...fromSubagent,
  }),
  complete: z.object({
    execution_id: z.string(),
    summary: z.string(),
    steps: z.number().int(),
    ...fromSubagent,
  }),
  error: errorDataSchema,
  subagent_start: z.object({
    subagent_id: z.string(),
    call_id: z.string(),
    task: z.string(),
  }),
  subagent_end: z.object({
    subagent_id: z.string(),
    call_id: z.string(),
    status: z.enum(['complete', 'failed', 'cancelled']),
    summary: z.string().optional(),
  }),
} as const;

export type EmittedType = keyof typeof emittedDataSchemas;
export type EmittedData<T extends EmittedType> = z.infer<(typeof emittedDataSchemas)[T]>;
export type SessionEmitted = {
  [T in EmittedType]: { type: T; execution_id: string | null; data: EmittedData<T> };
}[EmittedType];
