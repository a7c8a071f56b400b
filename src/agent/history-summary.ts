import type { HistoryEntry } from '../../machines/session.types.ts';

/** One line per step, rejections with their reason: what a final answer reports. */
export function describeStep(entry: HistoryEntry): string {
  if (entry.kind === 'rejected') {
    return entry.reason === 'expired'
      ? `${entry.tool} skipped: approval expired`
      : `${entry.tool} rejected by ${entry.by}: ${entry.reason}`;
  }
  return `${entry.tool} ok: ${JSON.stringify(entry.result)}`;
}

export function summarize(history: readonly HistoryEntry[]): string {
  if (history.length === 0) return 'nothing to do';
  return history.map((entry, i) => `${i + 1}. ${describeStep(entry)}`).join('\n');
}
