import type { z } from 'zod';

/** never, always, or a predicate on the parsed args that returns the reason approval is needed. */
export type ApprovalPolicy<A> = 'never' | 'always' | ((args: A) => string | null);

export interface ToolContext {
  signal: AbortSignal;
  session_id: string;
  execution_id: string;
  call_id: string;
}

export interface ToolDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  args: S;
  approval: ApprovalPolicy<z.output<S>>;
  /** False when running twice does harm (a transfer): its outcome is recorded by call id. */
  idempotent: boolean;
  run(args: z.output<S>, context: ToolContext): Promise<unknown>;
}

/** Keeps the args type of `run` tied to the schema while storing tools in one list. */
export function defineTool<S extends z.ZodType>(tool: ToolDefinition<S>): ToolDefinition {
  return tool;
}

/** Rejects when the signal aborts: the error a cancelled tool ends with. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}
