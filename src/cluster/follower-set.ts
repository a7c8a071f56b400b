import type { Logger } from 'pino';
import type { Store } from '../store/store.ts';
import {
  createSessionFollower,
  type SessionFollower,
  type SessionFollowerDeps,
} from './session-follower.ts';

export interface FollowerSetDeps {
  store: Store;
  bus: SessionFollowerDeps['bus'];
  logger: Logger;
  /** How often one query compares every followed session's stored last_seq; 0: only check(). */
  intervalMs?: number;
  /** Events a follower took from the log (lost or overtaken frames), for metrics. */
  onFill?: (sessionId: string, events: number) => void;
}

export interface FollowerHold {
  follower: SessionFollower;
  /** Lets go of it (once); the last hold's release closes the follower. */
  release(): void;
}

/** The followers of one node: one per session it has sockets of but does not own. */
export interface FollowerSet {
  /** The session's follower, made on first use from `initial` (its row as read). */
  hold(sessionId: string, initial: SessionFollowerDeps['initial']): FollowerHold;
  get(sessionId: string): SessionFollower | undefined;
  size(): number;
  /**
   * One read of every followed session's stored last_seq; a follower behind it catches up
   * (its last frame was lost, which no later frame reveals). Resolves when they have.
   */
  check(): Promise<void>;
  close(): void;
}

export function createFollowerSet(deps: FollowerSetDeps): FollowerSet {
  const log = deps.logger.child({ component: 'follower-set' });
  const followers = new Map<string, { follower: SessionFollower; holds: number }>();
  let checking: Promise<void> | null = null;
  /** The last check's read failed: logged once until one succeeds. */
  let failing = false;

  async function runCheck(): Promise<void> {
    const ids = [...followers.keys()];
    if (ids.length === 0) return;
    let stored: Map<string, number>;
    try {
      stored = await deps.store.lastSeqs(ids);
      failing = false;
    } catch (error) {
      if (!failing) log.warn({ err: error }, 'follower check could not read last seqs');
      failing = true;
      return;
    }
    const behind: Promise<void>[] = [];
    for (const [id, seq] of stored) {
      const follower = followers.get(id)?.follower;
      if (follower && seq > follower.lastSeq()) behind.push(follower.catchUp());
    }
    await Promise.all(behind);
  }

  /** A check asked for while one runs: it reads after that one, so it sees what is stored now. */
  let queued: Promise<void> | null = null;
  function check(): Promise<void> {
    if (!checking) {
      checking = runCheck().finally(() => (checking = null));
      return checking;
    }
    queued ??= checking.then(() => {
      queued = null;
      return check();
    });
    return queued;
  }

  const intervalMs = deps.intervalMs ?? 500;
  const timer =
    intervalMs > 0 ? setInterval(() => void (checking ?? check()), intervalMs).unref() : null;

  return {
    hold(sessionId, initial) {
      let entry = followers.get(sessionId);
      if (!entry) {
        const follower = createSessionFollower({
          sessionId,
          store: deps.store,
          bus: deps.bus,
          logger: deps.logger,
          initial,
          ...(deps.onFill ? { onFill: (events: number) => deps.onFill?.(sessionId, events) } : {}),
        });
        entry = { follower, holds: 0 };
        followers.set(sessionId, entry);
      }
      const held = entry;
      held.holds += 1;
      let released = false;
      return {
        follower: held.follower,
        release() {
          if (released) return;
          released = true;
          held.holds -= 1;
          if (held.holds > 0 || followers.get(sessionId) !== held) return;
          followers.delete(sessionId);
          held.follower.close();
        },
      };
    },
    get: (sessionId) => followers.get(sessionId)?.follower,
    size: () => followers.size,
    check,
    close() {
      if (timer) clearInterval(timer);
      for (const { follower } of followers.values()) follower.close();
      followers.clear();
    },
  };
}
