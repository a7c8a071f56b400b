import type { SessionState } from '../../machines/session.types.ts';
import type { PendingApproval } from '../protocol/outbound.ts';
import type { SessionView } from '../runtime/index.ts';
import type { FollowerSet } from './follower-set.ts';
import type { SessionFollower } from './session-follower.ts';

/** A session as its owner described it (a view reply). */
export interface OwnerAnswer {
  owner: string;
  state: SessionState;
  last_seq: number;
  pending_approvals: PendingApproval[];
}

interface Entry {
  view: SessionView;
  answer: OwnerAnswer;
  follower: SessionFollower;
}

/** Unheld views (a REST read) keep their follower this long, for the socket that may follow. */
const UNHELD_MS = 5_000;

/**
 * This node's views of sessions other nodes own: one per session while anything holds it, so
 * that the socket hub's one broadcast per session stays one. Each reads its events from this
 * node's follower of the session, and its state from the owner's last answer, or from the
 * follower once that has delivered later events.
 *
 * A view's last seq is its follower's, never the answer's: a socket is told it has every event
 * up to it and then gets the view's broadcast, which carries every event the follower delivers
 * after that. A follower behind the answer (a lost frame) catches up from the log first.
 */
export function createRemoteSessions(followers: FollowerSet) {
  const views = new Map<string, Entry>();

  async function view(sessionId: string, answer: OwnerAnswer): Promise<SessionView> {
    const entry = views.get(sessionId) ?? created(sessionId, answer);
    entry.answer = answer;
    if (entry.follower.lastSeq() < answer.last_seq) await entry.follower.catchUp();
    return entry.view;
  }

  function created(sessionId: string, answer: OwnerAnswer): Entry {
    const own = followers.hold(sessionId, { last_seq: answer.last_seq, state: answer.state });
    const { follower } = own;
    let holders = 0;
    let idle: NodeJS.Timeout | undefined;
    const entry: Entry = { answer, follower, view: undefined as unknown as SessionView };
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
        follower.lastSeq() === entry.answer.last_seq ? entry.answer.state : follower.state(),
      lastSeq: () => follower.lastSeq(),
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
    return entry;
  }

  return {
    view,
    size: () => views.size,
  };
}
