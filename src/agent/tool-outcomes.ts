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
