import { z } from 'zod';

/**
 * Approval policies: who may decide a request, how many distinct votes it takes, and what
 * happens when nobody answers in time. Pure rules, shared by the chart's guards and the
 * runtime (which refuses a vote with a clear code before the chart sees it).
 */

const name = z.string().min(1).max(128);

export const escalationSchema = z.strictObject({
  /** The role that decides once the request has been escalated. */
  to: name,
  /** How long the escalated request waits (ms); the server's approval TTL when unset. */
  ttl_ms: z.number().int().positive().max(2_147_483_647).optional(),
  /** How many times it may be escalated before an expiry rejects it. */
  times: z.number().int().min(1).max(10).default(1),
});

/** A policy as a tool or the configuration declares it: everything but the fields is a default. */
export const approvalPolicySchema = z.strictObject({
  /** Distinct approvals needed. */
  quorum: z.number().int().min(1).max(10).default(1),
  /** Distinct rejections that reject it (one, unless the policy says otherwise). */
  rejections_needed: z.number().int().min(1).max(10).default(1),
  /** Holders of one of these roles (the token's `roles` claim) may vote. */
  roles: z.array(name).max(32).optional(),
  /** These users may vote (with `roles`: either admits). Neither set: whoever may decide today. */
  users: z.array(name).max(256).optional(),
  /** The user whose `execute` led to the call may not vote on it. */
  exclude_requester: z.boolean().default(false),
  /** On `expires_at`: hand the request to another role with a new deadline instead. */
  escalate: escalationSchema.optional(),
});

export type ApprovalPolicyInput = z.input<typeof approvalPolicySchema>;

/** The policy in force, every default filled in: what `approval_required` carries. */
export interface ApprovalPolicy {
  quorum: number;
  rejections_needed: number;
  roles?: string[];
  users?: string[];
  exclude_requester: boolean;
  escalate?: { to: string; ttl_ms: number; times: number };
}

export type VoteKind = 'approve' | 'reject' | 'edit';

export interface Vote {
  by: string;
  vote: VoteKind;
}

/** What the chart keeps of a request's voting (absent in snapshots from before policies). */
export interface Ballot {
  policy?: ApprovalPolicy;
  votes?: Vote[];
  escalations?: number;
  /** The args of `approval_required` once an edit replaced them during voting. */
  original_args?: Record<string, unknown>;
}

/** The policy of a request that has none: one vote by whoever may decide, as before policies. */
export const DEFAULT_POLICY: ApprovalPolicy = {
  quorum: 1,
  rejections_needed: 1,
  exclude_requester: false,
};

export const policyOf = (ballot: Ballot | null | undefined): ApprovalPolicy =>
  ballot?.policy ?? DEFAULT_POLICY;

/** A policy that counts votes one by one: each accepted vote is its own `approval_vote`. */
export const countsVotes = (policy: ApprovalPolicy): boolean =>
  policy.quorum > 1 || policy.rejections_needed > 1;

export interface Voter {
  user_id: string;
  roles: readonly string[];
}

export type VoteRefusal =
  { code: 'approver_not_allowed'; message: string } | { code: 'already_voted'; message: string };

/** Why this voter may not vote on the request now, or null when the vote counts. */
export function voteRefusal(
  ballot: Ballot,
  requester: string | null,
  voter: Voter,
): VoteRefusal | null {
  const policy = policyOf(ballot);
  if (policy.exclude_requester && requester !== null && voter.user_id === requester) {
    return {
      code: 'approver_not_allowed',
      message: `${voter.user_id} asked for this call and may not decide it`,
    };
  }
  const named = policy.roles !== undefined || policy.users !== undefined;
  const admitted =
    (policy.roles ?? []).some((role) => voter.roles.includes(role)) ||
    (policy.users ?? []).includes(voter.user_id);
  if (named && !admitted) {
    return { code: 'approver_not_allowed', message: `${voter.user_id} ${whoMayVote(policy)}` };
  }
  if ((ballot.votes ?? []).some((vote) => vote.by === voter.user_id)) {
    return { code: 'already_voted', message: `${voter.user_id} has already voted on this request` };
  }
  return null;
}

function whoMayVote(policy: ApprovalPolicy): string {
  const who = [
    ...(policy.roles ?? []).map((role) => `the ${role} role`),
    ...(policy.users ?? []).map((user) => user),
  ];
  return `may not decide this request: only ${who.join(' or ') || 'nobody'} may`;
}

/** How a vote stands once it is cast: the votes of its kind so far and how many are needed. */
export function tally(ballot: Ballot, vote: VoteKind): { votes_so_far: number; needed: number } {
  const policy = policyOf(ballot);
  const votes = ballot.votes ?? [];
  if (vote === 'reject') {
    return {
      votes_so_far: votes.filter((v) => v.vote === 'reject').length + 1,
      needed: policy.rejections_needed,
    };
  }
  // An edit replaces the args: only it counts, the approvals of other args are void.
  const approvals = vote === 'edit' ? 0 : votes.filter((v) => v.vote !== 'reject').length;
  return { votes_so_far: approvals + 1, needed: policy.quorum };
}

/** Whether this vote decides the request (reaches the quorum, or the rejections needed). */
export function decides(ballot: Ballot, vote: VoteKind): boolean {
  const { votes_so_far, needed } = tally(ballot, vote);
  return votes_so_far >= needed;
}

/** The users whose votes of this kind decided it, in vote order, the deciding one last. */
export function decidersOf(ballot: Ballot, vote: VoteKind, by: string): string[] {
  const kind = (v: Vote) => (vote === 'reject' ? v.vote === 'reject' : v.vote !== 'reject');
  const earlier = vote === 'edit' ? [] : (ballot.votes ?? []).filter(kind).map((v) => v.by);
  return [...earlier.filter((user) => user !== by), by];
}

/** Whether an expiry hands the request on instead of rejecting it. */
export function escalates(ballot: Ballot): boolean {
  const escalate = policyOf(ballot).escalate;
  return escalate !== undefined && (ballot.escalations ?? 0) < escalate.times;
}

/** The policy once escalated: the escalation's role decides; votes cast so far still count. */
export function escalatedPolicy(policy: ApprovalPolicy): ApprovalPolicy {
  const { users: _users, ...rest } = policy;
  return policy.escalate ? { ...rest, roles: [policy.escalate.to] } : policy;
}

/** The policy in force for a declared one: defaults filled, an escalation's TTL from `ttlMs`. */
export function resolvePolicy(input: ApprovalPolicyInput, ttlMs: number): ApprovalPolicy {
  const parsed = approvalPolicySchema.parse(input);
  const { escalate, roles, users, ...rest } = parsed;
  return {
    ...rest,
    ...(roles ? { roles } : {}),
    ...(users ? { users } : {}),
    ...(escalate ? { escalate: { ...escalate, ttl_ms: escalate.ttl_ms ?? ttlMs } } : {}),
  };
}
