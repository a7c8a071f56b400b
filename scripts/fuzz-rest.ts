import { MESSAGE_LIMIT, nested, randomText } from './fuzz-frames.ts';
import type { Random } from './fuzz-random.ts';
import { describeFrame, type Stats } from './fuzz-stats.ts';

/** A fuzzed body for a REST decision or a session create: JSON, broken JSON, or bytes. */
function body(r: Random): string | Buffer {
  switch (r.int(0, 11)) {
    case 0:
      return '';
    case 1:
      return '{}';
    case 2:
      return JSON.stringify({ reason: randomText(r, r.int(0, 40)) });
    case 3:
      return `{"edited_args":${nested(r, r.pick([5, 31, 33, 1000]))}}`;
    case 4:
      return '{"reason":"\\u0000","edited_args":{"to":"\\ud800","amount":1e999,"currency":"USD"}}';
    case 5:
      return '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}';
    case 6:
      return `{"reason":"${'x'.repeat(r.pick([MESSAGE_LIMIT - 20, MESSAGE_LIMIT + 1]))}"}`;
    case 7:
      return r.bytes(r.int(0, 300));
    case 8:
      return r.pick(['{', 'null', '[]', '1', '"x"', 'true', '{"reason":}']);
    case 9:
      return JSON.stringify({
        edited_args: { to: 'carol', amount: r.pick([10, -1, 0, 1e308]), currency: 'USD' },
      });
    case 10:
      return JSON.stringify({ edited_args: [1, 2], reason: 7 });
    default:
      return Buffer.from([0x7b, 0x22, 0x72, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
  }
}

export interface RestOptions {
  readonly baseUrl: string;
  readonly stats: Stats;
  readonly random: Random;
  /** Real request ids seen on the sockets, so some decisions hit a live approval. */
  readonly requestIds: () => readonly string[];
}

/** One fuzzed REST call: a decision on a real or made-up request, or a session create. */
export async function restCall(options: RestOptions): Promise<void> {
  const { random: r, stats } = options;
  const ids = options.requestIds();
  const id =
    ids.length > 0 && r.chance(0.6)
      ? r.pick(ids)
      : r.pick([
          'req_x',
          `req_${r.bytes(16).toString('hex')}`,
          '%00',
          '..%2F..',
          'x'.repeat(300),
          '__proto__',
        ]);
  const verb = r.pick(['approve', 'reject', 'edit', 'sessions']);
  const path = verb === 'sessions' ? '/api/v1/sessions' : `/api/v1/approvals/${id}/${verb}`;
  const payload = body(r);
  const contentType = r.pick([
    'application/json',
    'application/json',
    'text/plain',
    'application/json; charset=latin1',
    '',
  ]);
  const label = `POST ${verb === 'sessions' ? 'sessions' : `approvals/:id/${verb}`}`;
  try {
    const res = await fetch(`${options.baseUrl}${path}`, {
      method: 'POST',
      headers: contentType === '' ? {} : { 'content-type': contentType },
      body: typeof payload === 'string' ? payload : new Uint8Array(payload),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    stats.add(stats.http, `${label} ${res.status}`);
    const frame = `${label} ${path.slice(0, 80)} body ${describeFrame(payload, typeof payload !== 'string')}`;
    stats.checkLeak(`HTTP ${res.status} ${label}`, text, frame);
    if (res.status >= 500 || text.includes('internal_error'))
      stats.findings.push({
        kind: 'internal_error',
        detail: `HTTP ${res.status}: ${text.slice(0, 300)}`,
        frame,
      });
  } catch (error) {
    stats.add(stats.http, `${label} failed: ${error instanceof Error ? error.name : 'error'}`);
  }
}
