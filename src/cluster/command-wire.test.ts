import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  errorOf,
  replyOf,
  type CommandRequest,
} from './command-wire.ts';

const request: CommandRequest = {
  command: { type: 'reject', request_id: 'req_1', reason: 'no', id: 'c1' },
  by: 'user_2',
  roles: ['approver'],
  origin: 'node-a',
};

describe('the command wire', () => {
  it('reads back what it writes, as bytes or text', () => {
    const text = encodeRequest(request);
    expect(decodeRequest(text)).toEqual({ ok: true, value: request });
    expect(decodeRequest(new TextEncoder().encode(text))).toEqual({ ok: true, value: request });
    const refused = replyOf(new AppError('already_decided', 'decided', 409));
    expect(decodeReply(encodeReply(refused))).toEqual({ ok: true, value: refused });
    expect(decodeReply(encodeReply({ ok: true }))).toEqual({ ok: true, value: { ok: true } });
  });

  it('refuses what is not a forwarded command, saying why', () => {
    const cases: [unknown, RegExp][] = [
      [new Uint8Array([0xff, 0xfe]), /not UTF-8 JSON/],
      [{ ...request, by: '' }, /by:/],
      [{ ...request, command: { type: 'approve' } }, /request_id/],
      [{ ...request, command: { type: 'ping' } }, /ping is not forwarded/],
      [{ ...request, command: { type: 'launch' } }, /unknown message type/],
      [{ command: request.command }, /by:/],
    ];
    for (const [input, why] of cases) {
      const data = input instanceof Uint8Array ? input : JSON.stringify(input);
      const decoded = decodeRequest(data);
      expect(decoded.ok).toBe(false);
      if (!decoded.ok) expect(decoded.message).toMatch(why);
    }
  });

  it('refuses a reply that is not one', () => {
    for (const reply of [{ ok: 'yes' }, { ok: false }, { ok: false, error: { code: 'x' } }, []]) {
      expect(decodeReply(JSON.stringify(reply)).ok).toBe(false);
    }
    const wrongStatus = { ok: false, error: { code: 'x', message: 'm', status: 200 } };
    expect(decodeReply(JSON.stringify(wrongStatus)).ok).toBe(false);
  });

  it("keeps an AppError's code, status and details across, and hides an internal one", () => {
    const error = new AppError('rate_limited', 'slow down', 429, { retry_after_ms: 40, n: 1 });
    const reply = replyOf(error);
    expect(reply).toEqual({
      ok: false,
      error: {
        code: 'rate_limited',
        message: 'slow down',
        status: 429,
        retry_after_ms: 40,
        data: { n: 1 },
      },
    });
    if (reply.ok) throw new Error('unreachable');
    const back = errorOf(reply.error);
    expect([back.code, back.message, back.status, back.details]).toEqual([
      'rate_limited',
      'slow down',
      429,
      { n: 1, retry_after_ms: 40 },
    ]);
    expect(replyOf(new Error('password=hunter2'))).toEqual({
      ok: false,
      error: { code: 'internal_error', message: 'internal error', status: 500 },
    });
  });
});
