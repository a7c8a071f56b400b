import { describe, expect, it } from 'vitest';
import type { OutboundEvent } from '../protocol/outbound.ts';
import { arrivalOf, isReply } from './event-order.ts';

const envelope = {
  session_id: 'ses_1',
  timestamp: '2026-01-01T00:00:00.000Z',
  state: 'thinking',
} as const;
const thinking = (seq: number): OutboundEvent => ({
  type: 'thinking',
  ...envelope,
  seq,
  data: { execution_id: 'exec_1', command: 'x', plan_steps: null },
});
const error = (seq: number, id?: string): OutboundEvent => ({
  type: 'error',
  ...envelope,
  seq,
  data: { code: 'tool_failed', message: 'boom', ...(id ? { id } : {}) },
});
const pong: OutboundEvent = { type: 'pong', ...envelope, seq: 9, data: { id: 'p' } };

describe('arrivalOf', () => {
  it('takes the next seq and refuses what was delivered', () => {
    expect(arrivalOf(thinking(5), 4)).toBe('next');
    expect(arrivalOf(thinking(4), 4)).toBe('duplicate');
    expect(arrivalOf(thinking(1), 4)).toBe('duplicate');
  });

  it('reports a hole', () => {
    expect(arrivalOf(thinking(7), 4)).toBe('gap');
    expect(arrivalOf(thinking(2), 0)).toBe('gap');
  });

  it('treats replies as outside the stream, whatever their seq', () => {
    expect(arrivalOf(pong, 4)).toBe('reply');
    expect(arrivalOf(pong, 20)).toBe('reply');
    expect(arrivalOf(error(3, 'c-1'), 4)).toBe('reply');
    expect(isReply(error(5, 'c-1'))).toBe(true);
  });

  it('treats an error without a client id as a stored session event', () => {
    expect(isReply(error(5))).toBe(false);
    expect(arrivalOf(error(5), 4)).toBe('next');
    expect(arrivalOf(error(4), 4)).toBe('duplicate');
  });
});
