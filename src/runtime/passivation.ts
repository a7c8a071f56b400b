import type { SessionState } from '../../machines/session.types.ts';
import type { Clock } from './clock.ts';
import type { SessionHost } from './session-host.ts';

/**
 * Passivation: a session actor that has rested long enough leaves memory, and comes back from
 * its stored snapshot on its next use (session-runtime.ts). What "rested" means is here.
 */

/** A command reached a host that passivation retired: the caller looks the session up again. */
export class SessionRetired extends Error {
  readonly code = 'session_retired';
  constructor(readonly sessionId: string) {
    super(`session ${sessionId} was passivated`);
  }
}

export interface IdleRule {
  /** How long a session must have been unused and unmoved. */
  afterMs: number;
  /**
   * An approval due this soon keeps its session in memory, and the expiry scheduler brings a
   * passivated one back this long before its deadline, so the session's own timer fires.
   */
  leadMs: number;
}

/** Nothing of the session runs in these states: no planner, no tool, no subagent. */
const RESTING: ReadonlySet<SessionState> = new Set([
  'idle',
  'awaiting_approval',
  'complete',
  'cancelled',
  'failed',
]);

/** The rule for a passivation delay: a lead of a second, or the delay itself when shorter. */
export function idleRule(afterMs: number): IdleRule {
  return { afterMs, leadMs: Math.min(1_000, afterMs) };
}

/**
 * True when the session may leave memory now: no socket holds it, nothing of it runs or
 * streams, no approval of it is due within the lead, and it has been unused for `afterMs`.
 * Cheap checks first: the sweep asks this of every session in memory.
 */
export function isIdle(host: SessionHost, now: number, rule: IdleRule): boolean {
  if (host.holders() > 0 || now - host.activeAt() < rule.afterMs) return false;
  if (host.isBroken() || host.isRetired() || !RESTING.has(host.state())) return false;
  if (host.streaming() !== null) return false;
  return host.pendingApprovals().every((p) => Date.parse(p.expires_at) - now > rule.leadMs);
}

/** Runs `sweep` every `everyMs` on the clock until the returned stop is called. */
export function startSweep(clock: Clock, everyMs: number, sweep: () => void): () => void {
  let stopped = false;
  let handle: unknown;
  const arm = () => {
    handle = clock.setTimeout(() => {
      if (stopped) return;
      sweep();
      arm();
    }, everyMs);
    // A sweep alone never keeps the process alive.
    (handle as { unref?: () => void } | null)?.unref?.();
  };
  arm();
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}

/** How often sessions are looked over: twice per delay, between 10 ms and a second. */
export const sweepEveryMs = (afterMs: number): number => Math.max(10, Math.min(1_000, afterMs / 2));
