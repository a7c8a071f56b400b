import { z } from 'zod';
import { argsSchema } from './session.events.ts';

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
    ...fromSubagent,
  }),
  approved: z.object({
    request_id: z.string(),
    call_id: z.string(),
    decided_by: z.string(),
    ...fromSubagent,
  }),
  rejected: z.object({
    request_id: z.string(),
    call_id: z.string(),
    decided_by: z.string(),
    reason: z.string(),
    ...fromSubagent,
  }),
  edit_approved: z.object({
    request_id: z.string(),
    call_id: z.string(),
    decided_by: z.string(),
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
