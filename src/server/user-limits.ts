import { AppError } from '../errors.ts';

/** The per-user limits; every one holds across all of that user's sockets and requests. */
export interface UserLimits {
  /** Open sockets per user; one more is refused at the upgrade with 429. */
  maxSocketsPerUser: number;
  /** Messages (socket frames and REST decisions) per second per user, refilled continuously. */
  messageRate: number;
  /** How many messages a user may send at once before the rate applies. */
  messageBurst: number;
  /** New sessions per user per minute. */
  sessionsPerMinute: number;
  /** Sessions per user that are not complete, cancelled or failed. */
  maxLiveSessionsPerUser: number;
}

export const DEFAULT_USER_LIMITS: UserLimits = {
  maxSocketsPerUser: 100,
  messageRate: 100,
  messageBurst: 200,
  sessionsPerMinute: 60,
  maxLiveSessionsPerUser: 1_000,
};

/** A token bucket: `take()` answers 0 when a token was taken, else the ms until one is there. */
export function createTokenBucket(rate: number, burst: number, now: () => number) {
  let tokens = burst;
  let at = now();
  return {
    take(): number {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - at) * rate) / 1000);
      at = t;
      if (tokens >= 1) {
        tokens -= 1;
        return 0;
      }
      return Math.ceil(((1 - tokens) * 1000) / rate);
    },
  };
}

type Bucket = ReturnType<typeof createTokenBucket>;

export function rateLimited(retryAfterMs: number): AppError {
  return new AppError('rate_limited', `too many messages; retry in ${retryAfterMs} ms`, 429, {
    retry_after_ms: retryAfterMs,
  });
}

export function quotaExceeded(message: string, retryAfterMs: number): AppError {
  return new AppError('quota_exceeded', message, 429, { retry_after_ms: retryAfterMs });
}

/**
 * The per-user counters of one server: sockets open, a message bucket, a session-creation
 * bucket. Buckets of users who have gone quiet are dropped, so memory follows active users.
 */
export function createUserLimiter(limits: UserLimits, now: () => number = Date.now) {
  const sockets = new Map<string, number>();
  const messages = new Map<string, Bucket>();
  const creations = new Map<string, Bucket>();
  const bucket = (map: Map<string, Bucket>, user: string, rate: number, burst: number) => {
    let found = map.get(user);
    if (!found) map.set(user, (found = createTokenBucket(rate, burst, now)));
    return found;
  };
  // A full bucket is the same as none: forget it (checked now and then, not per message).
  let sweepAt = now();
  const sweep = () => {
    if (now() - sweepAt < 60_000) return;
    sweepAt = now();
    for (const map of [messages, creations]) if (map.size > 10_000) map.clear();
  };

  return {
    /**
     * Throws `too_many_connections` (429) when the user's open sockets and the `pending`
     * upgrades of theirs already reach the limit.
     */
    openSocket(user: string, pending = 0): void {
      if ((sockets.get(user) ?? 0) + pending >= limits.maxSocketsPerUser) {
        throw new AppError(
          'too_many_connections',
          `at most ${limits.maxSocketsPerUser} sockets per user`,
          429,
        );
      }
    },
    socketOpened(user: string): void {
      sockets.set(user, (sockets.get(user) ?? 0) + 1);
    },
    socketClosed(user: string): void {
      const open = (sockets.get(user) ?? 1) - 1;
      if (open <= 0) sockets.delete(user);
      else sockets.set(user, open);
    },
    /** Throws `rate_limited` (with `retry_after_ms`) when the user is over the message rate. */
    message(user: string): void {
      sweep();
      const wait = bucket(messages, user, limits.messageRate, limits.messageBurst).take();
      if (wait > 0) throw rateLimited(wait);
    },
    /** Throws `quota_exceeded` when the user may not create a session now. */
    createSession(user: string, liveSessions: number): void {
      if (liveSessions >= limits.maxLiveSessionsPerUser) {
        throw quotaExceeded(
          `at most ${limits.maxLiveSessionsPerUser} sessions per user that have not ended`,
          60_000,
        );
      }
      const perMinute = limits.sessionsPerMinute;
      const wait = bucket(creations, user, perMinute / 60, perMinute).take();
      if (wait > 0)
        throw quotaExceeded(`at most ${perMinute} new sessions per user per minute`, wait);
    },
  };
}

export type UserLimiter = ReturnType<typeof createUserLimiter>;
