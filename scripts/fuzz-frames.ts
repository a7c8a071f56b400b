import type { Random } from './fuzz-random.ts';

/** One frame to send: text or binary, with the id the server echoes on a reply (if it has one). */
export interface Frame {
  readonly kind: string;
  readonly data: string | Buffer;
  readonly binary: boolean;
  readonly id?: string;
  /** The server is expected to close the socket on this frame (invalid UTF-8, > 1 MiB). */
  readonly closes?: boolean;
}

export const MESSAGE_LIMIT = 64 * 1024;
export const FRAME_LIMIT = 1024 * 1024;

const TYPES = ['execute', 'approve', 'reject', 'edit', 'cancel', 'ping'] as const;
const SPECIAL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];
const COMMANDS = ['transfer 250 USD to alice', 'transfer 5 USD to bob', 'echo hi', 'get balance'];

/** Raw JSON text for a value that is wrong in some way (type, size, content). */
function oddValue(r: Random): string {
  switch (r.int(0, 17)) {
    case 0:
      return 'null';
    case 1:
      return r.pick(['true', 'false']);
    case 2:
      return r.pick([
        '1e999',
        '-1e999',
        '1e-400',
        '123456789012345678901234567890123',
        '9007199254740993',
        '-0',
        '0.1e309',
      ]);
    case 3:
      return String(r.int(-1e9, 1e9));
    case 4:
      return '[]';
    case 5:
      return '{}';
    case 6:
      return JSON.stringify('x'.repeat(r.pick([129, 10_001, 40_000])));
    case 7:
      return '"\\u0000"';
    case 8:
      return r.pick(['"\\ud800"', '"a\\udfffb"', '"\\ud83d"', '"\\ud83d\\ude00"']);
    case 9:
      return nested(r, r.pick([31, 32, 33, 200, 5000]));
    case 10:
      return `{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}`;
    case 11:
      return JSON.stringify(randomText(r, r.int(0, 64)));
    case 12:
      return JSON.stringify(`req_${r.bytes(16).toString('hex')}`);
    case 13:
      return `[${Array.from({ length: r.int(0, 200) }, () => '{"tool":"echo","args":{"text":"a"}}').join(',')}]`;
    case 14:
      return JSON.stringify({
        to: 'alice',
        amount: r.pick([-5, 0, 1e308, 0.001, 250]),
        currency: r.pick(['USD', 'XYZ', '']),
      });
    case 15:
      return '"\\u0000\\ud800"';
    case 16:
      return JSON.stringify('\u202e\ufeff\u2028');
    default:
      return '""';
  }
}

/** Text of random code points (any plane), valid UTF-8 once encoded by the socket. */
export function randomText(r: Random, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    const band = r.int(0, 3);
    const cp =
      band === 0
        ? r.int(0x20, 0x7e)
        : band === 1
          ? r.int(0, 0x7ff)
          : band === 2
            ? r.int(0xe000, 0xffff)
            : r.int(0x10000, 0x10ffff);
    out += String.fromCodePoint(cp);
  }
  return out;
}

export function nested(r: Random, depth: number): string {
  return r.chance(0.5)
    ? '['.repeat(depth) + ']'.repeat(depth)
    : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** Raw JSON object text from entries, so keys like `__proto__` survive as own keys. */
function objectText(entries: readonly (readonly [string, string])[]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

function validEntries(
  r: Random,
  type: (typeof TYPES)[number],
  requestId: string,
  id: string,
): [string, string][] {
  const entries: [string, string][] = [
    ['type', JSON.stringify(type)],
    ['id', JSON.stringify(id)],
  ];
  if (type === 'execute') {
    entries.push(['command', JSON.stringify(r.pick(COMMANDS))]);
    if (r.chance(0.3))
      entries.push(['plan', JSON.stringify([{ tool: 'echo', args: { text: 'hi' } }])]);
  }
  if (type === 'approve' || type === 'reject' || type === 'edit')
    entries.push(['request_id', JSON.stringify(requestId)]);
  if (type === 'reject' && r.chance(0.5)) entries.push(['reason', '"no"']);
  if (type === 'edit')
    entries.push(['edited_args', JSON.stringify({ to: 'carol', amount: 10, currency: 'USD' })]);
  if (type === 'cancel' && r.chance(0.3)) entries.push(['execution_id', '"exec_0"']);
  return entries;
}

/** A valid message with one to three mutations: a field dropped, a wrong value, an extra key. */
function mutated(r: Random, requestId: string, id: string): Frame {
  const type = r.pick(TYPES);
  const entries = validEntries(r, type, requestId, id);
  const mutations = r.chance(0.15) ? 0 : r.int(1, 3);
  for (let m = 0; m < mutations; m++) {
    const op = r.int(0, 2);
    if (op === 0 && entries.length > 2) entries.splice(r.int(0, entries.length - 1), 1);
    else if (op === 1) {
      const at = r.int(0, entries.length - 1);
      if (entries[at]![0] !== 'id') entries[at] = [entries[at]![0], oddValue(r)];
    } else
      entries.push([
        r.chance(0.5) ? r.pick(SPECIAL_KEYS) : randomText(r, r.int(0, 12)),
        oddValue(r),
      ]);
  }
  return { kind: `mutated:${type}`, data: objectText(entries), binary: false, id };
}

/** A ping padded to exactly `bytes` bytes of UTF-8. */
export function pingOfSize(bytes: number, id: string): string {
  const head = `{"type":"ping","id":"${id}","pad":"`;
  return head + 'x'.repeat(Math.max(0, bytes - head.length - 2)) + '"}';
}

const INVALID_UTF8: readonly number[][] = [
  [0xff],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0x80],
];

/** The next frame of the run; `requestId` is a real pending request when one is known. */
export function nextFrame(r: Random, requestId: string, id: string): Frame {
  const roll = r.next();
  if (roll < 0.45) return mutated(r, requestId, id);
  if (roll < 0.55) return { kind: 'random-binary', data: r.bytes(r.int(0, 512)), binary: true };
  if (roll < 0.65)
    return { kind: 'random-text', data: randomText(r, r.int(0, 256)), binary: false };
  if (roll < 0.7) {
    const depth = r.pick([32, 33, 100, 1000, 10_000, 30_000, 100_000]);
    const inner = nested(r, depth);
    const data = r.chance(0.5)
      ? inner
      : objectText([
          ['type', '"edit"'],
          ['id', JSON.stringify(id)],
          ['request_id', JSON.stringify(requestId)],
          ['edited_args', inner],
        ]);
    return { kind: `nested:${depth}`, data, binary: false, id };
  }
  if (roll < 0.75) {
    const key = r.pick(SPECIAL_KEYS);
    const data = objectText([
      ['type', JSON.stringify(r.pick(TYPES))],
      ['id', JSON.stringify(id)],
      [key, r.chance(0.5) ? '{"type":"execute","command":"x"}' : oddValue(r)],
    ]);
    return { kind: `proto-key:${key}`, data, binary: false, id };
  }
  if (roll < 0.8) {
    const data = objectText([
      ['type', '"execute"'],
      ['id', JSON.stringify(id)],
      ['command', r.pick(['"\\u0000"', '"a\\ud800"', '"\\udc00x"', '"ok\\u0000\\udfff"'])],
    ]);
    return { kind: 'nul-surrogate', data, binary: false, id };
  }
  if (roll < 0.84)
    return {
      kind: 'invalid-json',
      data:
        r.pick([
          '{',
          '{"type":',
          '[1,]',
          '{"type":"ping",}',
          'NaN',
          "{'a':1}",
          '"unterminated',
          '\u0000',
          '',
        ]) + randomText(r, r.int(0, 8)),
      binary: false,
    };
  if (roll < 0.87)
    return {
      kind: 'huge-number',
      data: `{"type":"ping","id":${JSON.stringify(id)},"n":${'9'.repeat(r.int(20, 5000))}}`,
      binary: false,
      id,
    };
  if (roll < 0.88) {
    const bytes = r.pick(INVALID_UTF8);
    const data = Buffer.concat([
      Buffer.from(`{"type":"ping","id":"${id}","x":"`),
      Buffer.from(bytes),
      Buffer.from('"}'),
    ]);
    return { kind: 'invalid-utf8', data, binary: false, closes: true };
  }
  if (roll < 0.895) {
    const size = r.chance(0.1)
      ? r.pick([FRAME_LIMIT - 1, FRAME_LIMIT])
      : r.pick([MESSAGE_LIMIT - 1, MESSAGE_LIMIT, MESSAGE_LIMIT + 1]);
    return { kind: `size:${size}`, data: pingOfSize(size, id), binary: false, id };
  }
  if (roll < 0.8955)
    return {
      kind: `size:${FRAME_LIMIT + 1}`,
      data: pingOfSize(FRAME_LIMIT + 1, id),
      binary: false,
      closes: true,
    };
  if (roll < 0.95)
    return { kind: 'ping', data: `{"type":"ping","id":${JSON.stringify(id)}}`, binary: false, id };
  return {
    kind: 'valid-execute',
    data: JSON.stringify({ type: 'execute', id, command: r.pick(COMMANDS) }),
    binary: false,
    id,
  };
}
