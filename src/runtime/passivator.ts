import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import { isIdle, startSweep, sweepEveryMs, type IdleRule } from './passivation.ts';
import type { RuntimeObserver } from './runtime-observer.ts';
import type { SessionHost } from './session-host.ts';

export interface PassivatorDeps {
  /** The runtime's sessions in memory: a passivated one is deleted from it. */
  hosts: Map<string, SessionHost>;
  clock: Clock;
  rule: IdleRule;
  logger: Logger;
  observe: RuntimeObserver;
  /** A session left memory with these approvals pending (the expiry scheduler's notice). */
  left(host: SessionHost, pendingDeadlines: readonly string[]): void;
}

export interface Passivator {
  /** While the session is leaving memory: resolves once it has left or stayed. */
  leaving(sessionId: string): Promise<boolean> | undefined;
  /** Queues every idle session for passivation; resolves with how many left memory. */
  sweep(): Promise<number>;
  /** Stops the sweep; resolves once passivations under way are done. */
  close(): Promise<void>;
}

/**
 * Takes idle sessions out of memory. A passivation runs in the session's serial queue, behind
 * every command queued before it, and checks the rule again there: a command that got in first
 * keeps the session in memory. From the moment it is queued, `getSession` waits for it and then
 * finds the same host (it stayed) or loads a fresh one from the store (it left); a stopped host
 * is never handed out, and a command that still reaches one hears SessionRetired and retries.
 */
export function createPassivator(deps: PassivatorDeps): Passivator {
  const { hosts, clock, rule, logger } = deps;
  const passivating = new Map<string, Promise<boolean>>();
  let closed = false;

  function passivate(host: SessionHost): Promise<boolean> {
    const leaving = host
      .serial(async () => {
        if (closed || hosts.get(host.id) !== host || !isIdle(host, clock.now(), rule)) {
          return false;
        }
        hosts.delete(host.id);
        const deadlines = host.pendingApprovals().map((p) => p.expires_at);
        await host.retire();
        deps.observe.passivated();
        deps.left(host, deadlines);
        return true;
      })
      .catch((error: unknown) => {
        logger.warn({ err: error, sessionId: host.id }, 'session not passivated');
        return false;
      })
      .finally(() => {
        if (passivating.get(host.id) === leaving) passivating.delete(host.id);
      });
    passivating.set(host.id, leaving);
    return leaving;
  }

  async function sweep(): Promise<number> {
    const now = clock.now();
    const queued: Promise<boolean>[] = [];
    for (const host of hosts.values()) {
      if (!passivating.has(host.id) && isIdle(host, now, rule)) queued.push(passivate(host));
    }
    const left = await Promise.all(queued);
    return left.filter(Boolean).length;
  }

  const stopSweep = startSweep(clock, sweepEveryMs(rule.afterMs), () => void sweep());

  return {
    leaving: (sessionId) => passivating.get(sessionId),
    sweep,
    async close() {
      closed = true;
      stopSweep();
      await Promise.all(passivating.values());
    },
  };
}
