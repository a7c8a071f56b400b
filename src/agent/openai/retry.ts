import { abortError } from '../tool.ts';

/** Waits `ms`, rejecting with the signal's reason when it aborts first. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export const BACKOFF_BASE_MS = 500;
/** No wait is longer than this, whatever `Retry-After` asks for. */
export const BACKOFF_MAX_MS = 30_000;

/** Connection errors aside, the answers worth asking again. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** `Retry-After` as milliseconds from `now`: delay-seconds or an HTTP date; undefined if neither. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The wait before retry number `attempt` (0 for the first retry). */
export function backoffMs(attempt: number, retryAfter: number | undefined): number {
  const exponential = BACKOFF_BASE_MS * 2 ** attempt;
  return Math.min(BACKOFF_MAX_MS, retryAfter ?? exponential);
}

export const sleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    const done = () => {
      signal.removeEventListener('abort', abort);
      resolve();
    };
    const abort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', abort, { once: true });
  });
