import type { SessionState } from '../../machines/session.types.ts';
import type { PendingApproval } from '../protocol/outbound.ts';
import type { SessionView } from '../runtime/index.ts';
import type { FollowerSet } from './follower-set.ts';

/** A session as its owner described it (a view reply). */
export interface OwnerAnswer {
  owner: string;
  state: SessionState;
  last_seq: number;
  pending_approvals: PendingApproval[];
}

/** Unheld views (a REST read) keep their follower this long, for the socket that may follow. */
const UNHELD_MS = 5_000;

/**
 * This node's views of sessions other nodes own: one per session while anything holds it, so
 * that the socket hub's one broadcast per session stays one. Each reads its events from this
 * node's follower of the session, and its state from the owner's last answer, or from the
 * follower once that has delivered later events.
 */
export function createRemoteSessions(followers: FollowerSet) {
  const views = new Map<string, { view: SessionView; answer: OwnerAnswer }>();

  function view(sessionId: string, answer: OwnerAnswer): SessionView {
    const known = views.get(sessionId);
    if (known) {
      known.answer = answer;
      return known.view;
    }
    const own = followers.hold(sessionId, { last_seq: answer.last_seq, state: answer.state });
    const { follower } = own;
    let holders = 0;
    let idle: NodeJS.Timeout | undefined;
    const entry = { answer, view: undefined as unknown as SessionView };
    const letGo = () => {
      if (holders > 0 || views.get(sessionId) !== entry) return;
      views.delete(sessionId);
      own.release();
    };
    const idleLater = () => {
      clearTimeout(idle);
      idle = setTimeout(letGo, UNHELD_MS);
      idle.unref();
    };
    entry.view = {
      id: sessionId,
      owner: answer.owner,
      state: () =>
        follower.lastSeq() > entry.answer.last_seq ? follower.state() : entry.answer.state,
      lastSeq: () => Math.max(entry.answer.last_seq, follower.lastSeq()),
      pendingApprovals: () => entry.answer.pending_approvals,
      onDelta: (listener) => follower.onDelta(listener),
      streaming: () => follower.streaming(),
      subscribe: (afterSeq, listener, onLive, pace) =>
        follower.subscribe(afterSeq, listener, onLive, pace),
      hold() {
        holders += 1;
        clearTimeout(idle);
        let released = false;
        return () => {
          if (released) return;
          released = true;
          holders -= 1;
          if (holders === 0) idleLater();
        };
      },
      isBroken: () => false,
      isRetired: () => false,
    };
    views.set(sessionId, entry);
    idleLater();
    return entry.view;
  }

  return {
    view,
    size: () => views.size,
  };
}
