import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeInbound, decodeValue, encodeOutbound, type DecodeResult } from './codec.ts';
import { inboundMessageSchema, inboundTypes } from './inbound.ts';
import { outboundEventSchema, outboundTypes, type OutboundEvent } from './outbound.ts';
import { MAX_NESTING, describeUnstorable, findUnstorable } from './storable-json.ts';

const CODES = ['invalid_json', 'unknown_type', 'invalid_message', 'binary_not_supported'];

const valid: Record<string, Record<string, unknown>> = {
  execute: { type: 'execute', command: 'transfer 250 USD to alice' },
  execute_with_plan: {
    type: 'execute',
    command: 'pay',
    plan: [{ tool: 'transfer', args: { to: 'alice', amount: 250, currency: 'USD' } }],
  },
  approve: { type: 'approve', request_id: 'req_1' },
  reject: { type: 'reject', request_id: 'req_1' },
  reject_with_reason: { type: 'reject', request_id: 'req_1', reason: 'too much' },
  edit: { type: 'edit', request_id: 'req_1', edited_args: { amount: 50 } },
  cancel: { type: 'cancel' },
  cancel_execution: { type: 'cancel', execution_id: 'exec_1' },
  ping: { type: 'ping' },
};

function expectError(result: DecodeResult, code: string, id?: string) {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.error.code).toBe(code);
  expect(result.error.message.length).toBeGreaterThan(0);
  expect(result.error.id).toBe(id);
}

describe('decodeInbound: valid messages', () => {
  for (const [name, message] of Object.entries(valid)) {
    it(`decodes ${name}, with and without a client id`, () => {
      expect(decodeInbound(JSON.stringify(message))).toEqual({ ok: true, message });
      const tagged = { ...message, id: 'c-7' };
      const bytes = new TextEncoder().encode(JSON.stringify(tagged));
      expect(decodeInbound(bytes)).toEqual({ ok: true, message: tagged });
      expect(decodeInbound(bytes.buffer)).toEqual({ ok: true, message: tagged });
    });
  }

  it('covers every inbound type', () => {
    const covered = new Set(Object.values(valid).map((m) => m['type']));
    expect([...covered].sort()).toEqual([...inboundTypes].sort());
  });

  it('fills a plan step without args with {}', () => {
    const result = decodeInbound('{"type":"execute","command":"x","plan":[{"tool":"echo"}]}');
    expect(result).toEqual({
      ok: true,
      message: { type: 'execute', command: 'x', plan: [{ tool: 'echo', args: {} }] },
    });
  });
});

describe('decodeInbound: invalid frames', () => {
  it('refuses binary frames whatever they hold', () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ type: 'ping', id: 'a' }));
    expectError(decodeInbound(bytes, true), 'binary_not_supported');
  });

  it('reports bad JSON and bad UTF-8 as invalid_json', () => {
    expectError(decodeInbound('{"type":'), 'invalid_json');
    expectError(decodeInbound(''), 'invalid_json');
    expectError(decodeInbound(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 'invalid_json');
    // Valid JSON around an invalid byte is still refused, not decoded with U+FFFD.
    const bytes = new Uint8Array([
      ...new TextEncoder().encode('{"type":"ping","id":"'),
      0xc3,
      0x22,
      0x7d,
    ]);
    expectError(decodeInbound(bytes), 'invalid_json');
  });

  it('reports an unknown type, echoing the client id', () => {
    expectError(decodeInbound('{"type":"launch","id":"c-1"}'), 'unknown_type', 'c-1');
    expectError(decodeInbound('{"type":"launch"}'), 'unknown_type');
    expectError(decodeInbound('{"type":"toString"}'), 'unknown_type');
  });

  const invalid: Record<string, unknown> = {
    'a non-object (number)': 42,
    'a non-object (string)': 'ping',
    'an array': [{ type: 'ping' }],
    null: null,
    'no type': { id: 'c-2', request_id: 'req_1' },
    'a non-string type': { type: 7, id: 'c-2' },
    'approve without request_id': { type: 'approve', id: 'c-2' },
    'approve with an empty request_id': { type: 'approve', request_id: '', id: 'c-2' },
    'execute without command': { type: 'execute', id: 'c-2' },
    'execute with a numeric command': { type: 'execute', command: 5, id: 'c-2' },
    'execute with an empty plan': { type: 'execute', command: 'x', plan: [], id: 'c-2' },
    'a plan step with an extra key': {
      type: 'execute',
      command: 'x',
      plan: [{ tool: 'echo', args: {}, when: 'now' }],
      id: 'c-2',
    },
    'edit with array args': { type: 'edit', request_id: 'r', edited_args: [1], id: 'c-2' },
    'reject with a numeric reason': { type: 'reject', request_id: 'r', reason: 1, id: 'c-2' },
    'cancel with a numeric execution_id': { type: 'cancel', execution_id: 3, id: 'c-2' },
  };
  for (const [name, value] of Object.entries(invalid)) {
    it(`reports ${name} as invalid_message`, () => {
      const echoed =
        typeof value === 'object' && value !== null && !Array.isArray(value) ? 'c-2' : undefined;
      expectError(decodeInbound(JSON.stringify(value)), 'invalid_message', echoed);
      expectError(decodeValue(value), 'invalid_message', echoed);
    });
  }

  it('does not echo an id that is not a string', () => {
    expectError(decodeValue({ type: 'nope', id: 12 }), 'unknown_type');
  });

  it('names the offending field', () => {
    const result = decodeValue({ type: 'approve' });
    expect(!result.ok && result.error.message).toContain('request_id');
  });
});

describe('decode never throws', () => {
  const checkResult = (result: DecodeResult) => {
    if (result.ok) {
      expect(inboundMessageSchema.safeParse(result.message).success).toBe(true);
    } else {
      expect(CODES).toContain(result.error.code);
      expect(typeof result.error.message).toBe('string');
    }
  };

  it('for any JSON value', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => checkResult(decodeValue(value))));
  });

  it('for any JSON value sent as text', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const result = decodeInbound(JSON.stringify(value) ?? 'null');
        checkResult(result);
        if (!result.ok) expect(result.error.code).not.toBe('invalid_json');
      }),
    );
  });

  it('for objects shaped like messages', () => {
    const message = fc.record(
      {
        type: fc.constantFrom(...inboundTypes, 'other'),
        id: fc.oneof(fc.string(), fc.integer()),
        command: fc.oneof(fc.string(), fc.integer()),
        request_id: fc.string(),
        reason: fc.oneof(fc.string(), fc.constant(null)),
        edited_args: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.jsonValue()),
        execution_id: fc.string(),
        plan: fc.array(fc.record({ tool: fc.string(), args: fc.jsonValue() })),
      },
      { requiredKeys: ['type'] },
    );
    fc.assert(
      fc.property(message, (value) => {
        const result = decodeValue(value);
        checkResult(result);
        if (!result.ok && typeof value.id === 'string') expect(result.error.id).toBe(value.id);
      }),
    );
  });

  it('for any string and any bytes', () => {
    fc.assert(fc.property(fc.string(), (text) => checkResult(decodeInbound(text))));
    fc.assert(
      fc.property(fc.uint8Array(), fc.boolean(), (bytes, isBinary) => {
        const result = decodeInbound(bytes, isBinary);
        checkResult(result);
        if (isBinary) expect(!result.ok && result.error.code).toBe('binary_not_supported');
      }),
    );
  });
});

describe('outbound events', () => {
  const envelope = {
    session_id: 'ses_1',
    seq: 3,
    timestamp: '2026-01-01T00:00:00.000Z',
    state: 'executing',
    execution_id: 'exec_1',
  } as const;
  const request = { request_id: 'req_1', call_id: 'call_1' };
  const args = { to: 'alice', amount: 250, currency: 'USD' };
  const examples: Record<string, unknown> = {
    connected: {
      session_id: 'ses_1',
      user_id: 'dev',
      state: 'awaiting_approval',
      last_seq: 0,
      pending_approvals: [
        { ...request, tool: 'transfer', args, reason: 'r', expires_at: envelope.timestamp },
      ],
    },
    thinking: { execution_id: 'exec_1', command: 'pay', plan_steps: null },
    tool_call: { call_id: 'call_1', tool: 'transfer', args, subagent_id: 'sub_call_0' },
    tool_result: { call_id: 'call_1', tool: 'echo', result: { text: 'hi' } },
    approval_required: {
      ...request,
      tool: 'transfer',
      args,
      reason: 'above the limit',
      expires_at: '2026-01-01T00:15:00.000Z',
    },
    approval_vote: {
      ...request,
      decided_by: 'alice',
      vote: 'edit',
      votes_so_far: 1,
      needed: 2,
      edited_args: { ...args, amount: 50 },
      reset_votes: ['bob'],
    },
    approval_escalated: {
      ...request,
      to: 'finance_lead',
      expires_at: '2026-01-01T00:30:00.000Z',
      escalations: 1,
      times: 1,
    },
    approved: { ...request, decided_by: ['alice', 'bob'] },
    rejected: { ...request, decided_by: 'dev', reason: 'too much' },
    edit_approved: {
      ...request,
      decided_by: 'dev',
      original_args: args,
      edited_args: { ...args, amount: 50 },
    },
    approval_expired: { ...request, expires_at: envelope.timestamp },
    cancelled: {
      execution_id: 'exec_1',
      cancelled_by: 'dev',
      aborted: [{ kind: 'tool', id: 'call_1', tool: 'sleep' }],
    },
    complete: { execution_id: 'exec_1', summary: 'done', steps: 2 },
    error: { code: 'not_allowed_in_state', message: 'approve is not allowed while idle', id: 'c' },
    subagent_start: { subagent_id: 'sub_call_1', call_id: 'call_1', task: 'pay' },
    subagent_end: { subagent_id: 'sub_call_1', call_id: 'call_1', status: 'complete' },
    pong: { id: 'c-1' },
    message: {
      message_id: 'msg_1',
      text: 'Paying bob.',
      model: 'gpt-test',
      finish_reason: 'tool_calls',
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      tool_calls: [{ call_id: 'call_1', tool: 'transfer', args: { to: 'bob' } }],
    },
    message_delta: { message_id: 'msg_1', delta: 'Pay' },
  };

  it('has an example of every type, and each validates and survives encoding', () => {
    expect(Object.keys(examples).sort()).toEqual([...outboundTypes].sort());
    for (const [type, data] of Object.entries(examples)) {
      const event = { type, ...envelope, data };
      const parsed = outboundEventSchema.safeParse(event);
      expect(parsed.success, `${type}: ${parsed.error?.message ?? ''}`).toBe(true);
      const wire = encodeOutbound(parsed.data as OutboundEvent);
      expect(JSON.parse(wire)).toEqual(event);
    }
  });

  it('refuses a malformed envelope or data', () => {
    const ok = { type: 'pong', ...envelope, data: {} };
    expect(outboundEventSchema.safeParse(ok).success).toBe(true);
    for (const bad of [
      { ...ok, seq: -1 },
      { ...ok, seq: 1.5 },
      { ...ok, state: 'sleeping' },
      { ...ok, timestamp: 'yesterday' },
      { ...ok, type: 'approved', data: { request_id: 'r', call_id: 'c' } },
      { ...ok, type: 'subagent_end', data: { subagent_id: 's', call_id: 'c', status: 'done' } },
    ]) {
      expect(outboundEventSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('decodeInbound: NUL characters', () => {
  // PostgreSQL's jsonb cannot store U+0000: a command holding one would break the audit log.
  it('refuses a NUL anywhere in a message, naming the problem and echoing the id', () => {
    const frames = [
      '{"type":"execute","command":"pay\\u0000bob","id":"n1"}',
      '{"type":"edit","request_id":"req_1","edited_args":{"to":"a\\u0000"},"id":"n1"}',
      '{"type":"execute","command":"x","plan":[{"tool":"echo","args":{"k\\u0000":1}}],"id":"n1"}',
    ];
    for (const frame of frames) {
      const result = decodeInbound(frame);
      expectError(result, 'invalid_message', 'n1');
      if (!result.ok) expect(result.error.message).toMatch(/NUL/);
    }
  });

  it('still accepts an escaped backslash followed by u0000 as plain text', () => {
    const result = decodeInbound('{"type":"execute","command":"a\\\\u0000b"}');
    expect(result.ok).toBe(true);
  });
});

describe('decodeInbound: lone surrogates', () => {
  // PostgreSQL refuses "\ud800" in json: a command holding one would break the session's log.
  it('refuses a lone surrogate in any string or key, naming where, echoing the id', () => {
    const frames: Array<[string, string]> = [
      ['{"type":"execute","command":"echo \\ud800","id":"s1"}', 'command: '],
      ['{"type":"execute","command":"x\\udfff","id":"s1"}', 'command: '],
      ['{"type":"reject","request_id":"r","reason":"\\udc00\\ud800","id":"s1"}', 'reason: '],
      [
        '{"type":"edit","request_id":"r","edited_args":{"to":["ok","\\ud83d"]},"id":"s1"}',
        'edited_args.to.1: ',
      ],
      [
        '{"type":"edit","request_id":"r","edited_args":{"\\ud83d":1},"id":"s1"}',
        'edited_args: a key: ',
      ],
      ['{"type":"approve","request_id":"req_\\ud800","id":"s1"}', 'request_id: '],
    ];
    for (const [frame, where] of frames) {
      const result = decodeInbound(frame);
      expectError(result, 'invalid_message', 's1');
      if (!result.ok) {
        expect(result.error.message.startsWith(where), result.error.message).toBe(true);
        expect(result.error.message).toMatch(/lone UTF-16 surrogate/);
      }
    }
  });

  it('accepts surrogate pairs, and escaped text that only looks like a surrogate', () => {
    const emoji = decodeInbound('{"type":"execute","command":"pay \\ud83d\\ude00 and 😀"}');
    expect(emoji).toEqual({ ok: true, message: { type: 'execute', command: 'pay 😀 and 😀' } });
    expect(decodeInbound('{"type":"execute","command":"a\\\\ud800"}').ok).toBe(true);
  });

  it('accepts a string exactly when it is well-formed UTF-16 without NUL', () => {
    const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));
    const wellFormed = (text: string) => {
      try {
        encodeURIComponent(text); // throws URIError on a lone surrogate
        return !text.includes('\u0000');
      } catch {
        return false;
      }
    };
    fc.assert(
      fc.property(fc.string({ unit: codeUnit, minLength: 1, maxLength: 20 }), (text) => {
        const result = decodeValue({ type: 'execute', command: text });
        expect(result.ok).toBe(wellFormed(text));
        const edit = decodeValue({ type: 'edit', request_id: 'r', edited_args: { [text]: 1 } });
        expect(edit.ok).toBe(wellFormed(text));
      }),
      { numRuns: 500 },
    );
  });
});

describe('decodeInbound: nesting depth', () => {
  /** A message whose plan args hold `{"a":...}` so that the whole message is `levels` deep. */
  const nestedFrame = (levels: number) => {
    // message (1) > plan (2) > step (3) > args (4) > ...
    const inner = levels - 3;
    const args = '{"a":'.repeat(inner - 1) + '{}' + '}'.repeat(inner - 1);
    return `{"type":"execute","command":"x","plan":[{"tool":"echo","args":${args}}],"id":"d1"}`;
  };

  it(`accepts ${MAX_NESTING} levels and refuses ${MAX_NESTING + 1}, naming the limit and where`, () => {
    expect(decodeInbound(nestedFrame(MAX_NESTING)).ok).toBe(true);
    const result = decodeInbound(nestedFrame(MAX_NESTING + 1));
    expectError(result, 'invalid_message', 'd1');
    if (!result.ok) {
      expect(result.error.message).toMatch(/^plan\.0\.args\.a(\.a)*: /);
      expect(result.error.message).toContain(`${MAX_NESTING} levels`);
    }
  });

  it('refuses JSON nested 10,000 and 100,000 deep without overflowing the stack', () => {
    for (const levels of [10_000, 100_000]) {
      const result = decodeInbound(nestedFrame(levels));
      expectError(result, 'invalid_message', 'd1');
      if (!result.ok) expect(result.error.message).toContain(`${MAX_NESTING} levels`);
      const arrays = `{"type":"edit","request_id":"r","edited_args":{"x":${'['.repeat(levels)}${']'.repeat(levels)}},"id":"d1"}`;
      expectError(decodeInbound(arrays), 'invalid_message', 'd1');
    }
  });

  it('refuses deep nesting in a field the schema would drop, too', () => {
    const deep = '['.repeat(5_000) + ']'.repeat(5_000);
    expectError(
      decodeInbound(`{"type":"ping","extra":${deep},"id":"d1"}`),
      'invalid_message',
      'd1',
    );
  });

  it('reports the problem found first: NUL, surrogate or depth', () => {
    const problem = findUnstorable({ a: 'ok', b: ['\u0000'], c: '\ud800' });
    expect(problem).toEqual({ kind: 'nul', path: ['b', 0], inKey: false });
    expect(describeUnstorable(problem!)).toMatch(/^b\.0: strings may not contain NUL/);
    expect(findUnstorable({ a: [[[]]] }, 3)).toEqual({
      kind: 'too_deep',
      path: ['a', 0, 0],
      inKey: false,
    });
    expect(findUnstorable({ a: [[]] }, 3)).toBeUndefined();
  });
});
