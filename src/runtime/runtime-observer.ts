import type { Logger } from 'pino';
import type { OutboundEvent } from '../protocol/outbound.ts';

/**
 * What the runtime reports as it works, for metrics: plain callbacks, so the runtime knows no
 * metrics library. Every method is optional to implement and may be called often.
 */
export interface RuntimeObserver {
  /** One atomic write of a transition's events and snapshot took `ms` (successful or not). */
  commit(ms: number): void;
  /** Events stored and about to be sent, in seq order. */
  stored(events: readonly OutboundEvent[]): void;
  /** A write failed: the session's events were not stored and the session is dropped. */
  storeError(): void;
  /** An idle session actor left memory. */
  passivated(): void;
  /** A session actor was brought back from its stored snapshot (on demand or at start). */
  restored(): void;
}

const NOTHING: RuntimeObserver = {
  commit: () => undefined,
  stored: () => undefined,
  storeError: () => undefined,
  passivated: () => undefined,
  restored: () => undefined,
};

/** The observer with every call guarded: a throwing observer is logged, never breaks a session. */
export function guardObserver(
  observer: Partial<RuntimeObserver> | undefined,
  logger: Logger,
): RuntimeObserver {
  if (!observer) return NOTHING;
  const guard =
    <A extends unknown[]>(fn: ((...args: A) => void) | undefined) =>
    (...args: A): void => {
      try {
        fn?.(...args);
      } catch (error) {
        logger.error({ err: error }, 'runtime observer failed');
      }
    };
  return {
    commit: guard(observer.commit?.bind(observer)),
    stored: guard(observer.stored?.bind(observer)),
    storeError: guard(observer.storeError?.bind(observer)),
    passivated: guard(observer.passivated?.bind(observer)),
    restored: guard(observer.restored?.bind(observer)),
  };
}
