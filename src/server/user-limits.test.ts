import { describe, expect, it } from 'vitest';
import { isAppError } from '../errors.ts';
import { createTokenBucket, createUserLimiter, DEFAULT_USER_LIMITS } from './user-limits.ts';

function codeOf(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    return isAppError(error) ? error.code : 'not an AppError';
  }
}

describe('token bucket', () => {
  it('gives the burst at once, then one token per 1/rate s, and says how long to wait', () => {
    let t = 0;
    const bucket = createTokenBucket(10, 3, () => t);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0]);
    expect(bucket.take()).toBe(100);
    t = 50;
    expect(bucket.take()).toBe(50);
    t = 100;
    expect(bucket.take()).toBe(0);
    t = 10_000;
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0, 100]);
  });
});

describe('user limiter', () => {
  it('counts sockets per user, not per server, and frees them on close', () => {
    const limiter = createUserLimiter({ ...DEFAULT_USER_LIMITS, maxSocketsPerUser: 2 });
    limiter.socketOpened('alice');
    expect(codeOf(() => limiter.openSocket('alice'))).toBeNull();
    expect(codeOf(() => limiter.openSocket('alice', 1))).toBe('too_many_connections');
    limiter.socketOpened('alice');
    expect(codeOf(() => limiter.openSocket('alice'))).toBe('too_many_connections');
    expect(codeOf(() => limiter.openSocket('bob'))).toBeNull();
    limiter.socketClosed('alice');
    expect(codeOf(() => limiter.openSocket('alice'))).toBeNull();
  });

  it('limits messages per user with retry_after_ms, and recovers', () => {
    let t = 0;
    const limiter = createUserLimiter(
      { ...DEFAULT_USER_LIMITS, messageRate: 2, messageBurst: 2 },
      () => t,
    );
    limiter.message('alice');
    limiter.message('alice');
    try {
      limiter.message('alice');
      expect.unreachable('the third message is over the rate');
    } catch (error) {
      expect(error).toMatchObject({
        code: 'rate_limited',
        status: 429,
        details: { retry_after_ms: 500 },
      });
    }
    expect(codeOf(() => limiter.message('bob'))).toBeNull();
    t = 500;
    expect(codeOf(() => limiter.message('alice'))).toBeNull();
  });

  it('limits new sessions per minute and live sessions per user', () => {
    let t = 0;
    const limiter = createUserLimiter(
      { ...DEFAULT_USER_LIMITS, sessionsPerMinute: 2, maxLiveSessionsPerUser: 5 },
      () => t,
    );
    limiter.createSession('alice', 0);
    limiter.createSession('alice', 1);
    expect(codeOf(() => limiter.createSession('alice', 2))).toBe('quota_exceeded');
    t = 30_000;
    expect(codeOf(() => limiter.createSession('alice', 2))).toBeNull();
    t = 600_000;
    expect(codeOf(() => limiter.createSession('alice', 5))).toBe('quota_exceeded');
  });
});
