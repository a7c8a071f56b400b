import { describe, expect, it } from 'vitest';
import { canonicalJson, eventFrame } from './event-frame.ts';
import type { OutboundEvent } from './outbound.ts';

/** The definition before the one-pass encoder: the old canonical encoder over a JSON round trip. */
function roundTripCanonical(value: unknown): string {
  const old = (v: unknown): string => {
    if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
    if (Array.isArray(v)) return `[${v.map(old).join(',')}]`;
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${old(x)}`).join(',')}}`;
  };
  return old(JSON.parse(JSON.stringify(value) ?? 'null'));
}

class Money {
  constructor(readonly cents: number) {}
  toJSON(key: string) {
    return { amount: this.cents / 100, key };
  }
}

const awkward: unknown[] = [
  { b: 1, a: [3, { z: null, y: undefined, x: () => 1 }], c: 'ü "quoted" \n' },
  [undefined, () => 1, Symbol('s'), NaN, Infinity, -0, 1e21, 5e-324],
  { when: new Date('2026-12-03T08:00:00Z'), money: new Money(1234), nested: { m: new Money(1) } },
  { boxed: [new String('s'), new Number(2), new Boolean(false)] },
  { '': 0, '10': 1, '9': 2, B: 3, a: 4, é: 5 },
  'plain',
  42,
  null,
  undefined,
];

describe('canonicalJson', () => {
  it.each(awkward.map((value, i) => [i, value]))(
    'encodes value %i as a JSON round trip with sorted keys would',
    (_i, value) => {
      expect(canonicalJson(value)).toBe(roundTripCanonical(value));
    },
  );

  it('reads back to the same text (a jsonb round trip hashes the same)', () => {
    for (const value of awkward) {
      const text = canonicalJson(value);
      expect(canonicalJson(JSON.parse(text))).toBe(text);
    }
  });

  it('refuses a cycle with a TypeError instead of overflowing the stack', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(TypeError);
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError);
  });
});

describe('eventFrame', () => {
  const event = {
    type: 'tool_result',
    session_id: 'ses_1',
    seq: 7,
    timestamp: '2026-12-03T08:00:00.000Z',
    state: 'executing',
    execution_id: 'exe_1',
    data: { call_id: 'c1', tool: 't', result: { b: 2, a: 1 } },
  } as unknown as OutboundEvent;

  it('is the canonical JSON of the envelope and data, made once per event', () => {
    const frame = eventFrame(event);
    expect(frame).toBe(canonicalJson(event));
    expect(JSON.parse(frame)).toEqual(event);
    expect(eventFrame(event)).toBe(frame);
  });

  it('leaves execution_id out when unset, as the stored row reads back', () => {
    const { execution_id: _drop, ...bare } = event as OutboundEvent & { execution_id?: string };
    expect(JSON.parse(eventFrame(bare as OutboundEvent))).not.toHaveProperty('execution_id');
    expect(eventFrame(bare as OutboundEvent)).toBe(canonicalJson(bare));
  });
});
