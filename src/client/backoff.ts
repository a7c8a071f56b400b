/** How a client retries a lost connection: exponential backoff with jitter, capped. */
export interface ReconnectOptions {
  /** Delay before the first retry. */
  initialMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /** Each retry waits this many times longer than the one before. */
  factor: number;
  /** Retries in a row before the client gives up and closes; Infinity never gives up. */
  maxAttempts: number;
  /** 0..1: each delay is shortened by up to this fraction, so clients spread out. */
  jitter: number;
}

export const DEFAULT_RECONNECT: ReconnectOptions = {
  initialMs: 100,
  maxMs: 5_000,
  factor: 2,
  maxAttempts: Infinity,
  jitter: 0.3,
};

/** The delay before retry number `attempt` (0-based); `random` returns 0..1. */
export function backoffDelay(
  attempt: number,
  options: ReconnectOptions,
  random: () => number = Math.random,
): number {
  const exponential = options.initialMs * options.factor ** Math.max(0, attempt);
  const capped = Math.min(options.maxMs, exponential);
  const jitter = Math.min(1, Math.max(0, options.jitter));
  return Math.round(capped * (1 - jitter * random()));
}
