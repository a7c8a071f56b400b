import type { ApprovalRecord } from '../store/store.ts';
import type { Voter } from '../../machines/session.policy.ts';
import type { BallotView } from './ballots.ts';
import type { SessionHost } from './session-host.ts';
import type { SessionRuntime } from './session-runtime.ts';

/**
 * What the server's sockets and REST routes use of a session: a host in this process, or in
 * cluster mode a view of a session another node owns (its events followed over NATS).
 */
export type SessionView = Pick<
  SessionHost,
  | 'id'
  | 'owner'
  | 'state'
  | 'lastSeq'
  | 'pendingApprovals'
  | 'onDelta'
  | 'streaming'
  | 'subscribe'
  | 'hold'
  | 'isBroken'
  | 'isRetired'
>;

/** Approval records with the live ballot of each pending one, as `voter` sees it. */
export type Ballots = (
  approvals: readonly ApprovalRecord[],
  voter: Voter,
) => Promise<(ApprovalRecord & Partial<BallotView>)[]>;

/**
 * The runtime as the server uses it: the local SessionRuntime, or the cluster runtime that
 * routes each session to the node that owns it.
 */
export interface SessionService extends Omit<
  SessionRuntime,
  'createSession' | 'getSession' | 'release' | 'hosted'
> {
  createSession(owner: string): Promise<SessionView>;
  getSession(id: string): Promise<SessionView | undefined>;
  ballots: Ballots;
}
