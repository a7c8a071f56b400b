import type { ToolArgs } from '../../machines/session.events.ts';
import type { PlannerInput } from '../../machines/session.types.ts';

/** One planning step as a planner sees it; the runtime adds call ids and approval requests. */
export type PlannerStep =
  { kind: 'final'; summary: string } | { kind: 'call'; tool: string; args: ToolArgs };

/** What a real agent implements (the built-in ones and, later, an LLM-backed one). */
export interface Planner {
  next(input: PlannerInput, signal: AbortSignal): Promise<PlannerStep>;
}
