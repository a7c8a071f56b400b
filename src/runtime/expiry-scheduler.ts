import type { Logger } from 'pino';
import type { PendingDeadline, Store } from '../store/store.ts';
import type { Clock } from './clock.ts';

export interface ExpirySchedulerDeps {
  store: Pick<Store, 'listPendingDeadlines'>;
  clock: Clock;
  logger: Logger;
  /** How long before its deadline a passivated session is brought back. */
  leadMs: number;
  /** True while the session is in memory (or loading): its own timer fires on time then. */
  inMemory(sessionId: string): boolean;
  /** Brings the session back from its snapshot; its re-armed timer does the expiring. */
  restore(sessionId: string): Promise<unknown>;
}

export interface ExpiryScheduler {
  /** A session left memory with an approval due at `expiresAt`: wake for it in time. */
  notice(expiresAt: string): void;
  /** Reads the store's pending deadlines now: restores what is due, arms for the next. */
  scan(): Promise<void>;
  close(): void;
}

const PAGE = 500;
/** After a failed scan or restore: try again this soon. */
const RETRY_MS = 1_000;

/**
 * One timer for all passivated sessions, set for the earliest pending deadline among them
 * (minus the lead), read from the store's index of pending approvals (approvals.expires_at),
 * not from a timer per session. When it fires, the sessions due are restored just before their
 * deadline, and their own approval timer, re-armed from the absolute `expires_at`, expires them
 * exactly as it would have in memory: the decision commit, `approval_expired`, the planner.
 */
export function createExpiryScheduler(deps: ExpirySchedulerDeps): ExpiryScheduler {
  const { clock, logger } = deps;
  let handle: unknown = null;
  /** When the armed timer fires (clock ms); Infinity when none is armed. */
  let armedFor = Infinity;
  let scanning: Promise<void> | null = null;
  let again = false;
  let closed = false;

  function arm(at: number): void {
    if (closed || at >= armedFor) return;
    if (handle !== null) clock.clearTimeout(handle);
    armedFor = at;
    handle = clock.setTimeout(() => {
      handle = null;
      armedFor = Infinity;
      void scan();
    }, at - clock.now());
  }

  /** Pages through pending deadlines in order until the first one not due yet. */
  async function scanOnce(): Promise<void> {
    let after: PendingDeadline | undefined;
    for (;;) {
      const page = await deps.store.listPendingDeadlines({
        ...(after ? { after } : {}),
        limit: PAGE,
      });
      for (const due of page) {
        if (deps.inMemory(due.session_id)) continue;
        const wakeAt = Date.parse(due.expires_at) - deps.leadMs;
        if (wakeAt > clock.now()) return arm(wakeAt);
        deps.restore(due.session_id).catch((error: unknown) => {
          logger.warn({ err: error, sessionId: due.session_id }, 'session not restored for expiry');
          arm(clock.now() + RETRY_MS);
        });
      }
      after = page.at(-1);
      if (page.length < PAGE) return;
    }
  }

  function scan(): Promise<void> {
    if (closed) return Promise.resolve();
    if (scanning) {
      again = true;
      return scanning;
    }
    scanning = (async () => {
      do {
        again = false;
        try {
          await scanOnce();
        } catch (error) {
          logger.warn({ err: error }, 'pending deadlines not read; retrying');
          arm(clock.now() + RETRY_MS);
        }
      } while (again && !closed);
    })().finally(() => (scanning = null));
    return scanning;
  }

  return {
    notice: (expiresAt) => arm(Date.parse(expiresAt) - deps.leadMs),
    scan,
    close() {
      closed = true;
      if (handle !== null) clock.clearTimeout(handle);
      handle = null;
    },
  };
}
