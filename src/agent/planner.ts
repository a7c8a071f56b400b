import type { ToolArgs } from '../../machines/session.events.ts';
import type {
  AssistantMessage,
  DiscardedTurn,
  PlannerInput,
} from '../../machines/session.types.ts';

export interface PlannerContext {
  signal: AbortSignal;
  /**
   * Assistant text as it streams, for the session's sockets (`message_delta`, not stored);
   * the turn's `message` in the step is what is stored.
   */
  onDelta?: (messageId: string, delta: string) => void;
}

/** The model turns behind a step: the one acted on, and any whose calls could not run. */
interface ModelTurns {
  message?: AssistantMessage;
  discarded?: DiscardedTurn[];
}

/**
 * One planning step as a planner sees it; the runtime adds approval requests, and call ids
 * when the planner brings none. `message` is the model turn behind the step, when there is one.
 */
export type PlannerStep =
  | ({ kind: 'final'; summary: string } & ModelTurns)
  | ({ kind: 'call'; tool: string; args: ToolArgs; call_id?: string } & ModelTurns);

/** What a real agent implements (the built-in ones and the OpenAI-compatible one). */
export interface Planner {
  next(input: PlannerInput, context: PlannerContext): Promise<PlannerStep>;
}
