import type { ApprovalPolicy, Vote } from '../../machines/session.policy.ts';
import { SessionClientError } from './errors.ts';

/** An approval request as `GET /api/v1/approvals` lists it (docs/protocol.md). */
export interface ApprovalListing {
  request_id: string;
  session_id: string;
  execution_id: string;
  call_id: string;
  tool: string;
  /** The args under vote now (an edit during voting replaces them). */
  args: Record<string, unknown>;
  edited_args: Record<string, unknown> | null;
  reason: string;
  status: 'pending' | 'approved' | 'rejected' | 'edited' | 'expired' | 'cancelled';
  /** Once decided: who decided (several approvers: `"bob, cara"`, in vote order). */
  decided_by: string | null;
  decided_at: string | null;
  decision_reason: string | null;
  expires_at: string;
  created_at: string;
  subagent_id: string | null;
  /** Pending ones: the policy in force, the votes so far, and whether the caller may vote. */
  policy?: ApprovalPolicy;
  votes?: Vote[];
  votes_so_far?: number;
  needed?: number;
  escalations?: number;
  may_vote?: boolean;
  refusal?: 'approver_not_allowed' | 'already_voted';
}

export interface ListApprovalsOptions {
  /** The server, `http://host:port`. */
  url: string;
  token?: string;
  status?: ApprovalListing['status'];
  fetch?: typeof fetch;
}

/**
 * The approval requests the caller may see (the inbox): for pending ones, the votes so far
 * and whether this caller may vote. Throws a SessionClientError with the server's code.
 */
export async function listApprovals(options: ListApprovalsOptions): Promise<ApprovalListing[]> {
  const url = new URL('/api/v1/approvals', options.url);
  if (options.status) url.searchParams.set('status', options.status);
  const response = await (options.fetch ?? fetch)(url, {
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
  });
  const body = (await response.json()) as {
    approvals?: ApprovalListing[];
    error?: { code: string; message: string };
  };
  if (!response.ok || !body.approvals) {
    const error = body.error ?? { code: 'http_error', message: `HTTP ${response.status}` };
    throw new SessionClientError(error.code, error.message, { status: response.status });
  }
  return body.approvals;
}
