import type { z } from 'zod';
import type { ApprovalPolicyInput } from '../../machines/session.policy.ts';

/**
 * Whether a call waits for a human: `false` never, `true` always, or a function of the
 * parsed args that returns the reason approval is needed, or null when it is not.
 */
export type NeedsApproval<A> = boolean | ((args: A) => string | null);

/**
 * Who decides a call that needs approval, and how: one policy, or a function of the parsed
 * args returning one (null: the default, one vote by the owner or an approver).
 */
export type ApprovalPolicyRule<A> = ApprovalPolicyInput | ((args: A) => ApprovalPolicyInput | null);

/** What a tool's `run` gets besides its args. */
export interface ToolContext {
  /** Aborts when the call is cancelled: stop at once and reject. */
  signal: AbortSignal;
  sessionId: string;
  executionId: string;
  /** Stable across a restart: a key for exactly-once effects in outside systems. */
  callId: string;
}

/** The object shape every tool args schema has (zod v4 `z.object`/`z.strictObject`). */
export type ToolArgsSchema = z.ZodObject;

export interface ToolDefinition<S extends ToolArgsSchema = ToolArgsSchema> {
  /** What the planner calls it: `^[a-zA-Z0-9_-]{1,64}$` (the Chat Completions rule). */
  name: string;
  description: string;
  args: S;
  needsApproval: NeedsApproval<z.output<S>>;
  /** Only read when the call needs approval. Absent: the default policy. */
  approvalPolicy?: ApprovalPolicyRule<z.output<S>>;
  /** False when running twice does harm (a transfer): its outcome is recorded by call id. */
  idempotent: boolean;
  run(args: z.output<S>, context: ToolContext): Promise<unknown>;
}

/** Keeps the args type of `run` tied to the schema while storing tools in one list. */
export function defineTool<S extends ToolArgsSchema>(tool: ToolDefinition<S>): ToolDefinition {
  return tool;
}

/** Rejects when the signal aborts: the error a cancelled tool ends with. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}
