import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from './backoff.ts';

const plain: ReconnectOptions = {
  initialMs: 100,
  maxMs: 1_000,
  factor: 2,
  maxAttempts: 5,
  jitter: 0,
};

describe('backoffDelay', () => {
  it('grows by the factor and stops at maxMs', () => {
    const delays = [0, 1, 2, 3, 4, 5, 30].map((n) => backoffDelay(n, plain));
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
  });

  it('shortens each delay by at most the jitter fraction', () => {
    const options = { ...plain, jitter: 0.5 };
    expect(backoffDelay(2, options, () => 0)).toBe(400);
    expect(backoffDelay(2, options, () => 1)).toBe(200);
    expect(backoffDelay(2, options, () => 0.5)).toBe(300);
  });

  it('keeps out-of-range jitter within 0..1', () => {
    expect(backoffDelay(0, { ...plain, jitter: 7 }, () => 1)).toBe(0);
    expect(backoffDelay(0, { ...plain, jitter: -1 }, () => 1)).toBe(100);
  });

  it('has defaults that start fast and cap at a few seconds', () => {
    expect(backoffDelay(0, DEFAULT_RECONNECT, () => 0)).toBe(100);
    expect(backoffDelay(100, DEFAULT_RECONNECT, () => 0)).toBe(5_000);
  });
});
