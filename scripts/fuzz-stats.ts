import { findLeak } from './fuzz-leaks.ts';

export interface Finding {
  readonly kind: 'crash' | 'leak' | 'internal_error' | 'final_flow' | 'server_log';
  readonly detail: string;
  readonly frame?: string;
}

type Tally = Map<string, number>;

export interface Stats {
  framesSent: number;
  readonly frameKinds: Tally;
  readonly replies: Tally;
  readonly errorCodes: Tally;
  readonly closes: Tally;
  readonly http: Tally;
  readonly findings: Finding[];
  /** Every frame sent, as printable text, to line up with the server's error log afterwards. */
  readonly sent: { readonly at: number; readonly sessionId: string; readonly frame: string }[];
  readonly add: (tally: Tally, key: string) => void;
  /** Checks one reply (socket frame or HTTP body) for leaks; returns the leak kind if any. */
  readonly checkLeak: (where: string, text: string, frame: string | undefined) => void;
}

export function createStats(): Stats {
  const add = (tally: Tally, key: string): void => {
    tally.set(key, (tally.get(key) ?? 0) + 1);
  };
  const findings: Finding[] = [];
  return {
    framesSent: 0,
    frameKinds: new Map(),
    replies: new Map(),
    errorCodes: new Map(),
    closes: new Map(),
    http: new Map(),
    findings,
    sent: [],
    add,
    checkLeak: (where, text, frame) => {
      const leak = findLeak(text);
      if (leak !== undefined)
        findings.push({
          kind: 'leak',
          detail: `${leak} in ${where}: ${truncate(text, 400)}`,
          ...(frame === undefined ? {} : { frame }),
        });
    },
  };
}

export function truncate(text: string, max = 300): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}

/** A frame as printable text: JSON-escaped, truncated, binary as hex. */
export function describeFrame(data: string | Buffer, binary: boolean): string {
  if (binary) return `binary ${data.length} B: ${truncate(Buffer.from(data).toString('hex'), 200)}`;
  const text = typeof data === 'string' ? data : data.toString('latin1');
  return `text ${Buffer.byteLength(data)} B: ${truncate(JSON.stringify(text), 300)}`;
}

function table(title: string, tally: Tally): string {
  const rows = [...tally.entries()].sort((a, b) => b[1] - a[1]);
  const width = Math.max(10, ...rows.map(([k]) => k.length));
  return [
    `${title}`,
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${String(v).padStart(8)}`),
  ].join('\n');
}

export function summary(stats: Stats, seconds: number): string {
  const kinds = new Map<string, number>();
  for (const [k, v] of stats.frameKinds) {
    const group = k.replace(/:.*/, (m) =>
      k.startsWith('size:') || k.startsWith('nested:') ? m : '',
    );
    kinds.set(group, (kinds.get(group) ?? 0) + v);
  }
  return [
    `frames sent: ${stats.framesSent} in ${seconds.toFixed(1)} s (${Math.round(stats.framesSent / seconds)}/s)`,
    table('frames by kind', kinds),
    table('replies by type', stats.replies),
    table('error codes', stats.errorCodes),
    table('closes by code', stats.closes),
    table('HTTP statuses', stats.http),
    `findings: ${stats.findings.length}`,
  ].join('\n');
}
