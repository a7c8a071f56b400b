import { describe, expect, it } from 'vitest';
import { BACKOFF_MAX_MS, backoffMs, isRetryableStatus, retryAfterMs, sleep } from './retry.ts';

describe('retry', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterMs('3', now)).toBe(3_000);
    expect(retryAfterMs('0.5', now)).toBe(500);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(retryAfterMs('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  it('doubles the wait per retry and caps it, Retry-After included', () => {
    expect([0, 1, 2, 3].map((n) => backoffMs(n, undefined))).toEqual([500, 1_000, 2_000, 4_000]);
    expect(backoffMs(0, 7_000)).toBe(7_000);
    expect(backoffMs(20, undefined)).toBe(BACKOFF_MAX_MS);
    expect(backoffMs(0, 86_400_000)).toBe(BACKOFF_MAX_MS);
  });

  it('retries 408, 429 and 5xx only', () => {
    expect([400, 401, 404, 408, 422, 429, 500, 503].filter(isRetryableStatus)).toEqual([
      408, 429, 500, 503,
    ]);
  });

  it('sleeps until aborted, then rejects with the reason', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const waiting = sleep(60_000, controller.signal);
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
  });
});
