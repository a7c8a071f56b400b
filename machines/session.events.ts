import { z } from 'zod';

/**
 * The commands a session accepts, defined once. `src/protocol` builds the wire messages from
 * these schemas and the machine's event types are inferred from them.
 */
export const argsSchema = z.record(z.string(), z.unknown());
export type ToolArgs = z.infer<typeof argsSchema>;

export const planStepSchema = z.strictObject({
  tool: z.string().min(1).max(64),
  args: argsSchema.default({}),
});
export type PlanStep = z.infer<typeof planStepSchema>;

const requestId = z.string().min(1).max(128);

export const commandSchemas = {
  execute: z.object({
    type: z.literal('execute'),
    command: z.string().min(1).max(10_000),
    plan: z.array(planStepSchema).min(1).max(100).optional(),
  }),
  approve: z.object({ type: z.literal('approve'), request_id: requestId }),
  reject: z.object({
    type: z.literal('reject'),
    request_id: requestId,
    reason: z.string().max(2_000).optional(),
  }),
  edit: z.object({ type: z.literal('edit'), request_id: requestId, edited_args: argsSchema }),
  cancel: z.object({
    type: z.literal('cancel'),
    execution_id: z.string().min(1).max(128).optional(),
  }),
} as const;

export type CommandType = keyof typeof commandSchemas;
export type Command = { [K in CommandType]: z.infer<(typeof commandSchemas)[K]> }[CommandType];

/** Who sent a command, and (for execute) the id the runtime gave the new execution. */
interface Attribution {
  by: string;
}
/** A decision also carries the sender's roles, which an approval policy may ask for. */
interface VoterAttribution extends Attribution {
  roles?: readonly string[];
  /** A decision committed before a crash, given again on restore: it was accepted then. */
  replayed?: true;
}
export type DecisionType = 'approve' | 'reject' | 'edit';
export type SessionCommandEvent =
  | (Extract<Command, { type: 'execute' }> & Attribution & { execution_id: string })
  | (Extract<Command, { type: DecisionType }> & VoterAttribution)
  | (Extract<Command, { type: 'cancel' }> & Attribution);

/** Internal events, produced by the session's own actors. */
export type SessionInternalEvent =
  /**
   * `at`: when it expired (ms), from which an escalation's new deadline counts; `replayed`: an
   * expiry committed before a crash, given again on restore (it ends the request).
   */
  | { type: 'approval.expired'; request_id: string; at?: number; replayed?: true }
  | { type: 'subagent.done'; call_id: string; summary: string; results: unknown[] }
  | { type: 'subagent.failed'; call_id: string; message: string };

export type SessionEvent = SessionCommandEvent | SessionInternalEvent;
