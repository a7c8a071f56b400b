/** Number formats and the plain-text table of the bench's report ('-' for what was not measured). */
export const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
export const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
export const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
export const f3 = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : '-');
/** x/y as `1.23×`; '-' when either is missing. */
export const ratio = (x: number, y: number) =>
  Number.isFinite(x / y) ? `${(x / y).toFixed(2)}×` : '-';

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
