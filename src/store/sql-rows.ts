import type { SessionState } from '../../machines/session.types.ts';
import type {
  ApprovalRecord,
  ApprovalStatus,
  Ownership,
  PendingDeadline,
  SessionRecord,
  SessionSummary,
  SnapshotPart,
  StoredEvent,
  ToolOutcome,
} from './store.ts';
import type { SqlParam, SqlRow } from './sql-executor.ts';

/** Row -> record mapping shared by both drivers (postgres.js returns bigint as text). */

/** Text columns yield strings; anything else would be a mapping bug, shown as JSON. */
const text = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
const textOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : text(v));
const int = (v: unknown): number => Number(v);
const iso = (v: unknown): string => (v instanceof Date ? v : new Date(text(v))).toISOString();
const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));
const object = (v: unknown): Record<string, unknown> => v as Record<string, unknown>;
const objectOrNull = (v: unknown): Record<string, unknown> | null =>
  v === null || v === undefined ? null : object(v);

/** A JSON value as a `$n::text::jsonb` parameter; undefined becomes SQL NULL. */
export function jsonParam(value: unknown): SqlParam {
  return value === undefined ? null : (JSON.stringify(value) ?? null);
}

export function toSession(row: SqlRow): SessionRecord {
  return {
    id: text(row.id),
    owner: text(row.owner),
    state: text(row.state) as SessionState,
    snapshot: row.snapshot ?? null,
    machine_version: int(row.machine_version),
    last_seq: int(row.last_seq),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

export function toOwnership(row: SqlRow): Ownership {
  return { owner_node: textOrNull(row.owner_node), owner_epoch: int(row.owner_epoch) };
}

export function toSessionSummary(row: SqlRow): SessionSummary {
  return {
    id: text(row.id),
    owner: text(row.owner),
    state: text(row.state) as SessionState,
    last_seq: int(row.last_seq),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    pending_approvals: int(row.pending_approvals),
  };
}

export function toApproval(row: SqlRow): ApprovalRecord {
  return {
    request_id: text(row.request_id),
    session_id: text(row.session_id),
    execution_id: text(row.execution_id),
    call_id: text(row.call_id),
    tool: text(row.tool),
    args: object(row.args),
    edited_args: objectOrNull(row.edited_args),
    reason: text(row.reason),
    status: text(row.status) as ApprovalStatus,
    decided_by: textOrNull(row.decided_by),
    decided_at: isoOrNull(row.decided_at),
    decision_reason: textOrNull(row.decision_reason),
    expires_at: iso(row.expires_at),
    created_at: iso(row.created_at),
    subagent_id: textOrNull(row.subagent_id),
  };
}

export function toPendingDeadline(row: SqlRow): PendingDeadline {
  return {
    request_id: text(row.request_id),
    session_id: text(row.session_id),
    expires_at: iso(row.expires_at),
  };
}

export function toToolOutcome(row: SqlRow): ToolOutcome {
  const base = { call_id: text(row.call_id), tool: text(row.tool) };
  switch (row.status) {
    case 'started':
      return { status: 'started', ...base, args: object(row.args) };
    case 'succeeded':
      return { status: 'succeeded', ...base, result: row.result ?? null };
    default:
      return { status: 'failed', ...base, error: text(row.error) };
  }
}

/** The wire event exactly as it was hashed: execution_id is absent, not null, when unset. */
export function toStoredEvent(row: SqlRow): StoredEvent {
  const executionId = textOrNull(row.execution_id);
  return {
    type: text(row.type),
    session_id: text(row.session_id),
    seq: int(row.seq),
    timestamp: text(row.timestamp),
    state: text(row.state),
    ...(executionId === null ? {} : { execution_id: executionId }),
    data: row.data,
    prev_hash: text(row.prev_hash),
    hash: text(row.hash),
  } as StoredEvent;
}

export function toSnapshotPart(row: SqlRow): SnapshotPart {
  return {
    session_id: text(row.session_id),
    part: text(row.part),
    idx: int(row.idx),
    value: row.value,
  };
}
