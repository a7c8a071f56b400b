import type { OutboundEvent } from '../protocol/outbound.ts';
import type { SessionState } from '../../machines/session.types.ts';
import type { ClaimResult, Ownership } from './session-ownership.ts';

export type { ClaimResult, Ownership } from './session-ownership.ts';

/** One stored event of the audit log: the wire event as it was sent, plus its chain hashes. */
export type StoredEvent = OutboundEvent & { prev_hash: string; hash: string };

/** A session's actor snapshot as of the events it is written with. */
export interface SnapshotWrite {
  session_id: string;
  state: SessionState;
  snapshot: unknown;
  machine_version: number;
}

/**
 * The rows a transition implies, written in the same atomic write as its events: an approval
 * request with its `approval_required`, an execution's row with its first and last event.
 */
export interface TransitionRows {
  /** Inserted unless the request id is already there (a replay never resets a decision). */
  approvals?: readonly ApprovalRecord[];
  /** Inserted, or replacing the row of the same execution id. */
  executions?: readonly ExecutionRecord[];
  /** Rows of the snapshot's parts stored once (see runtime/snapshot-parts.ts); kept if there. */
  parts?: readonly SnapshotPart[];
  /**
   * Non-idempotent tool calls: the start of each call goes in with its `tool_call` (kept if the
   * call id has a row), its outcome with the `tool_result` or the error that ends it.
   */
  toolStarts?: readonly ToolStartRecord[];
  toolOutcomes?: readonly Exclude<ToolOutcome, { status: 'started' }>[];
}

/** What an append reports back. */
export interface AppendResult {
  /** The call ids of `rows.toolStarts` this write recorded (their call id had no row before). */
  startedCalls: readonly string[];
}

/** The start of a tool call, as the session records it with the `tool_call` event. */
export type ToolStartRecord = Extract<ToolOutcome, { status: 'started' }> & { session_id: string };

/** One row of a part of a session's snapshot that is stored once rather than in every snapshot. */
export interface SnapshotPart {
  session_id: string;
  /** Which part: `<execution id>:history` or `<execution id>:plan`. */
  part: string;
  idx: number;
  value: unknown;
}

export interface SessionRecord {
  id: string;
  owner: string;
  state: SessionState;
  /** The actor's persisted snapshot (JSON), or null before the first transition. */
  snapshot: unknown;
  machine_version: number;
  last_seq: number;
  created_at: string;
  updated_at: string;
}

export type ApprovalStatus =
  'pending' | 'approved' | 'rejected' | 'edited' | 'expired' | 'cancelled';

export interface ApprovalRecord {
  request_id: string;
  session_id: string;
  execution_id: string;
  call_id: string;
  tool: string;
  args: Record<string, unknown>;
  edited_args: Record<string, unknown> | null;
  reason: string;
  status: ApprovalStatus;
  decided_by: string | null;
  decided_at: string | null;
  decision_reason: string | null;
  expires_at: string;
  created_at: string;
  subagent_id: string | null;
}

export interface Decision {
  request_id: string;
  /**
   * The request's session: a decision that names it is fenced with the session's held epoch
   * (cluster mode refuses one that does not).
   */
  session_id?: string;
  status: Exclude<ApprovalStatus, 'pending'>;
  decided_by: string;
  decided_at: string;
  decision_reason?: string;
  edited_args?: Record<string, unknown>;
}

/** Exactly one decision wins: the others learn whether the request exists at all. */
export type DecideResult =
  | { ok: true; approval: ApprovalRecord }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'already_decided'; approval: ApprovalRecord };

/** A pending approval's deadline: what the expiry scheduler reads (approvals.expires_at). */
export interface PendingDeadline {
  request_id: string;
  session_id: string;
  expires_at: string;
}

/** Where a page of pending deadlines ends: the next page starts strictly after it. */
export interface DeadlineCursor {
  expires_at: string;
  request_id: string;
}

export interface ExecutionRecord {
  execution_id: string;
  session_id: string;
  command: string;
  started_by: string;
  state: SessionState;
  started_at: string;
  ended_at: string | null;
}

/** The recorded outcome of one tool call, by call id: what makes a restore never repeat one. */
export type ToolOutcome =
  | { status: 'started'; call_id: string; tool: string; args: Record<string, unknown> }
  | { status: 'succeeded'; call_id: string; tool: string; result: unknown }
  | { status: 'failed'; call_id: string; tool: string; error: string };

export type ChainVerification =
  | { ok: true; session_id: string; events: number }
  | { ok: false; session_id: string; events: number; broken_seq: number; problem: string };

/** Where a page of the session list ends: the next page starts strictly after it. */
export interface SessionCursor {
  /** `created_at` as the database prints it (full precision, so no row is skipped). */
  created_at: string;
  id: string;
}

/** A page of the session list, newest first. Unset filters match every session. */
export interface SessionListQuery {
  /** Only this owner's sessions (what a caller without the approver role may see). */
  owner?: string;
  state?: SessionState;
  /** true: only sessions with a pending approval; false: only those without one. */
  pending?: boolean;
  after?: SessionCursor;
  limit: number;
}

/** One row of the session list. */
export interface SessionSummary {
  id: string;
  owner: string;
  state: SessionState;
  last_seq: number;
  created_at: string;
  /** When the session last stored an event (its creation time before the first). */
  updated_at: string;
  pending_approvals: number;
}

export interface SessionPage {
  sessions: SessionSummary[];
  /** Where the next page starts; null on the last page. */
  next: SessionCursor | null;
}

export interface Store {
  /** `postgres`, `pglite` or `memory`: for logs and /readyz. */
  readonly kind: string;
  /** Answers when the backing database is reachable. */
  ping(): Promise<void>;
  /**
   * False while the database is known to be unreachable (a query failed to reach it and none
   * has since): the runtime then refuses commands with `store_unavailable` up front.
   */
  isAvailable(): boolean;

  /**
   * With `owner_node` (cluster mode) the session is created owned by that node at epoch 1,
   * and this store holds that epoch.
   */
  createSession(session: {
    id: string;
    owner: string;
    state: SessionState;
    machine_version: number;
    owner_node?: string;
  }): Promise<SessionRecord>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /** A page of sessions, newest first (created_at, then id, descending). */
  listSessions(query: SessionListQuery): Promise<SessionPage>;
  /** Sessions whose actor was doing something when the process stopped (not idle/terminal). */
  listActiveSessions(): Promise<SessionRecord[]>;
  /**
   * Appends events to the audit log (seq given by the caller: the next ones of the session,
   * no gap) and, in the same atomic write, the session snapshot that follows them, so the
   * stored snapshot and the log never disagree. Resolves once both are durable.
   * Implementations batch concurrent calls (group commit) and chain each event's hash to the
   * previous one of its session. A refused call writes neither its events nor its snapshot,
   * nor the `rows` that come with them.
   */
  appendEvents(
    events: readonly OutboundEvent[],
    snapshot?: SnapshotWrite,
    rows?: TransitionRows,
  ): Promise<AppendResult>;
  readEvents(sessionId: string, afterSeq: number, limit: number): Promise<StoredEvent[]>;
  /** The rows of these parts of a session's snapshot, in part and idx order. */
  readSnapshotParts(sessionId: string, parts: readonly string[]): Promise<SnapshotPart[]>;
  lastSeq(sessionId: string): Promise<number>;
  /** The last stored seq of each of these sessions that exists (its row's), in one read. */
  lastSeqs(ids: readonly string[]): Promise<Map<string, number>>;
  verifyChain(sessionId: string): Promise<ChainVerification>;

  upsertExecution(execution: ExecutionRecord): Promise<void>;

  createApproval(approval: ApprovalRecord): Promise<void>;
  getApproval(requestId: string): Promise<ApprovalRecord | undefined>;
  listApprovals(filter: {
    status?: ApprovalStatus;
    session_id?: string;
  }): Promise<ApprovalRecord[]>;
  /** A conditional update (pending -> decided), committed before it resolves. */
  decideApproval(decision: Decision): Promise<DecideResult>;
  /**
   * Pending approvals, earliest deadline first (expires_at, then request_id), strictly after
   * `after` when given: from an index, so finding the next deadline costs the same at any size.
   */
  listPendingDeadlines(query: {
    after?: DeadlineCursor;
    limit: number;
  }): Promise<PendingDeadline[]>;

  getToolOutcome(callId: string): Promise<ToolOutcome | undefined>;
  /** Records that a call is about to run. Resolves false when the call id was already recorded. */
  recordToolStart(
    outcome: Extract<ToolOutcome, { status: 'started' }>,
    sessionId: string,
  ): Promise<boolean>;
  /** `sessionId` fences the write with the session's held epoch (cluster mode needs it). */
  recordToolOutcome(
    outcome: Exclude<ToolOutcome, { status: 'started' }>,
    sessionId?: string,
  ): Promise<void>;

  /**
   * Cluster mode: takes the session for `nodeId` if its epoch is still `seenEpoch` (a
   * compare-and-set that bumps the epoch: of racing claims with one seen epoch exactly one
   * wins). A won claim's epoch is held by this store: every later write of the session checks
   * it in the write's own statement, and fails with `session_moved` (writing nothing) once
   * another claim moved the epoch on. A lost claim names the owner and epoch to retry with.
   * Rejects with `session_not_found` when there is no such session.
   */
  claimSession(sessionId: string, nodeId: string, seenEpoch: number): Promise<ClaimResult>;
  /** Forgets the session's held epoch here (its row keeps its owner until the next claim). */
  releaseSession(sessionId: string): void;
  /**
   * Gives the session up (it left memory here): owner_node becomes null if the row still has
   * the epoch this store held, so any node may claim it next without waiting for this one.
   */
  disownSession(sessionId: string, nodeId: string): Promise<void>;
  getOwnership(sessionId: string): Promise<Ownership | undefined>;
  /**
   * Cluster mode from now on: a session is written only while this store holds its epoch,
   * every write must name its session, and no write goes out while `leaseValid()` is false
   * (they fail with `session_moved`).
   */
  fenceWrites(leaseValid: () => boolean): void;

  /** Flushes pending batches and releases the database (and its lock). */
  close(): Promise<void>;
}
