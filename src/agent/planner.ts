import type { ToolArgs } from '../../machines/session.events.ts';
import type { AssistantMessage, PlannerInput } from '../../machines/session.types.ts';

export interface PlannerContext {
  signal: AbortSignal;
  /** streamed assistant text, ephemeral */
  onDelta?: (messageId: string, delta: string) => void;
}

/**
 * One planning step as a planner sees it; the runtime adds approval requests, and call ids
 * when the planner brings none. `message` is the model turn behind the step, when there is one.
 */
export type PlannerStep =
  | { kind: 'final'; summary: string; message?: AssistantMessage }
  | { kind: 'call'; tool: string; args: ToolArgs; call_id?: string; message?: AssistantMessage };

/** What a real agent implements (the built-in ones and the OpenAI-compatible one). */
export interface Planner {
  next(input: PlannerInput, context: PlannerContext): Promise<PlannerStep>;
}
