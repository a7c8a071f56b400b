import type { BallotView } from '../runtime/ballots.ts';
import type { ApprovalRecord } from '../store/store.ts';
import { SessionClientError } from './errors.ts';

/**
 * An approval request as `GET /api/v1/approvals` lists it (docs/protocol.md): the stored
 * record, and for a pending one the policy in force, the votes so far and whether the caller
 * may vote.
 */
export type ApprovalListing = ApprovalRecord & Partial<BallotView>;

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
