import type { HistoryEntry } from '../../machines/session.types.ts';

/** A history entry that ends one tool call: its result, or its rejection. */
export type ToolOutcome = Extract<HistoryEntry, { kind: 'result' | 'rejected' }>;

export function isToolOutcome(entry: HistoryEntry): entry is ToolOutcome {
  return entry.kind === 'result' || entry.kind === 'rejected';
}

/** The calls that ran or were rejected, in order; model turns (`message` entries) left out. */
export function toolOutcomes(history: readonly HistoryEntry[]): ToolOutcome[] {
  return history.filter(isToolOutcome);
}

/** The call an outcome answers: its own, or the one it was asked again for after a crash. */
export const answeredCall = (outcome: ToolOutcome): string => outcome.replaces ?? outcome.call_id;

/** The latest outcome of each call, by the call id it answers. */
export function outcomesByCall(history: readonly HistoryEntry[]): Map<string, ToolOutcome> {
  return new Map(toolOutcomes(history).map((outcome) => [answeredCall(outcome), outcome]));
}
