import {
  DEFAULT_POLICY,
  tally,
  voteRefusal,
  type ApprovalPolicy,
  type Vote,
  type Voter,
} from '../../machines/session.policy.ts';
import type { ApprovalRecord } from '../store/store.ts';
import { snapshotOf } from './session-events.ts';
import type { SessionHost } from './session-host.ts';

/** A pending request as a voter sees it: the votes so far, and whether this voter may vote. */
export interface BallotView {
  policy: ApprovalPolicy;
  votes: Vote[];
  /** Approvals counted so far, and how many the policy needs. */
  votes_so_far: number;
  needed: number;
  escalations: number;
  /** The deadline now (an escalation moves it). */
  expires_at: string;
  /** The args under vote now (an edit during voting replaces them). */
  args: Record<string, unknown>;
  may_vote: boolean;
  /** Why not, when may_vote is false: `approver_not_allowed` or `already_voted`. */
  refusal?: 'approver_not_allowed' | 'already_voted';
}

/** The live ballot of a pending request of this session, or null when no actor waits for it. */
export function ballotOf(session: SessionHost, requestId: string, voter: Voter): BallotView | null {
  const actor = session.actorForRequest(requestId);
  if (!actor) return null;
  const { context } = snapshotOf(actor);
  const pending = context.pending;
  if (!pending) return null;
  const refused = voteRefusal(pending, context.executed_by, voter);
  const { votes_so_far } = tally(pending, 'approve');
  return {
    policy: pending.policy ?? DEFAULT_POLICY,
    votes: pending.votes ?? [],
    // tally counts the vote about to be cast: the ones so far are one fewer.
    votes_so_far: votes_so_far - 1,
    needed: (pending.policy ?? DEFAULT_POLICY).quorum,
    escalations: pending.escalations ?? 0,
    expires_at: pending.expires_at,
    args: pending.args,
    may_vote: refused === null,
    ...(refused ? { refusal: refused.code } : {}),
  };
}

/** Pending records with their live ballots (decided ones as stored). */
export async function withBallots(
  approvals: readonly ApprovalRecord[],
  sessionOf: (id: string) => Promise<SessionHost | undefined>,
  voter: Voter,
): Promise<(ApprovalRecord & Partial<BallotView>)[]> {
  const out: (ApprovalRecord & Partial<BallotView>)[] = [];
  for (const approval of approvals) {
    const session =
      approval.status === 'pending' ? await sessionOf(approval.session_id) : undefined;
    const ballot = session ? ballotOf(session, approval.request_id, voter) : null;
    out.push(ballot ? { ...approval, ...ballot } : approval);
  }
  return out;
}
