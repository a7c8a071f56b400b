import type { HistoryEntry } from '../../machines/session.types.ts';
import { toolOutcomes, type ToolOutcome } from './tool-outcomes.ts';

/** One line per step, rejections with their reason: what a final answer reports. */
export function describeStep(entry: ToolOutcome): string {
  if (entry.kind === 'rejected') {
    return entry.reason === 'expired'
      ? `${entry.tool} skipped: approval expired`
      : `${entry.tool} rejected by ${entry.by}: ${entry.reason}`;
  }
  return `${entry.tool} ok: ${JSON.stringify(entry.result)}`;
}

export function summarize(history: readonly HistoryEntry[]): string {
  const steps = toolOutcomes(history);
  if (steps.length === 0) return 'nothing to do';
  return steps.map((entry, i) => `${i + 1}. ${describeStep(entry)}`).join('\n');
}
