/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  help: Map<string, string>;
  types: Map<string, string>;
  samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const NUMBER = /^(?:[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+)|[+-]Inf|NaN)$/i;

/** Parses the text format strictly: a line that is not HELP, TYPE or a sample throws. */
export function parsePrometheusText(text: string): Exposition {
  const out: Exposition = { help: new Map(), types: new Map(), samples: [] };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name = '', rest = ''] = meta;
      (kind === 'HELP' ? out.help : out.types).set(name, rest);
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample || !NUMBER.test(sample[3] ?? '')) throw new Error(`not a sample: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key = '', value = ''] of (sample[2] ?? '').matchAll(LABEL)) labels[key] = value;
    out.samples.push({ name: sample[1] ?? '', labels, value: Number(sample[3]) });
  }
  return out;
}

/** The value of the sample with this name and (at least) these labels; 0 when there is none. */
export function valueOf(
  exposition: Exposition,
  name: string,
  labels: Record<string, string> = {},
): number {
  const found = exposition.samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return found?.value ?? 0;
}
