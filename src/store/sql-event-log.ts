import type { OutboundEvent } from '../protocol/outbound.ts';
import { chainHash, GENESIS_HASH, verifyEvents } from './event-chain.ts';
import { inSession } from './driver-error.ts';
import { createGroupCommit } from './group-commit.ts';
import type { SqlExecutor, SqlQuerier } from './sql-executor.ts';
import { toStoredEvent } from './sql-rows.ts';
import { StoreError } from './store-error.ts';
import type {
  ApprovalRecord,
  ChainVerification,
  ExecutionRecord,
  SnapshotWrite,
  StoredEvent,
  TransitionRows,
} from './store.ts';

const EVENT_COLUMNS =
  'session_id, seq, type, state, execution_id, "timestamp", data, prev_hash, hash';

export const APPROVAL_COLUMNS = `request_id, session_id, execution_id, call_id, tool, args,
  edited_args, reason, status, decided_by, decided_at, decision_reason, expires_at, created_at,
  subagent_id`;
const EXECUTION_COLUMNS =
  'execution_id, session_id, command, started_by, state, started_at, ended_at';

/**
 * One statement, so one atomic commit without BEGIN/COMMIT round trips: the rows go in, each
 * session's last_seq moves up, the snapshot written with them replaces the stored one, and
 * the approval and execution rows of the same transitions go in with them. Data-modifying
 * CTEs run even when nothing reads them; one UPDATE touches each session once.
 */
const INSERT_EVENTS = `
  WITH approvals_in AS (
    INSERT INTO approvals (${APPROVAL_COLUMNS})
    SELECT ${APPROVAL_COLUMNS} FROM jsonb_to_recordset($3::text::jsonb) AS a(
      request_id text, session_id text, execution_id text, call_id text, tool text, args jsonb,
      edited_args jsonb, reason text, status text, decided_by text, decided_at timestamptz,
      decision_reason text, expires_at timestamptz, created_at timestamptz, subagent_id text)
    ON CONFLICT (request_id) DO NOTHING
  ), executions_in AS (
    INSERT INTO executions (${EXECUTION_COLUMNS})
    SELECT ${EXECUTION_COLUMNS} FROM jsonb_to_recordset($4::text::jsonb) AS e(
      execution_id text, session_id text, command text, started_by text, state text,
      started_at timestamptz, ended_at timestamptz)
    ON CONFLICT (execution_id) DO UPDATE SET session_id = EXCLUDED.session_id,
      command = EXCLUDED.command, started_by = EXCLUDED.started_by, state = EXCLUDED.state,
      started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at
  ), r AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset($1::text::jsonb) AS r(
      session_id text, seq bigint, type text, state text, execution_id text,
      "timestamp" text, data jsonb, prev_hash text, hash text)
  ), inserted AS (
    INSERT INTO events (${EVENT_COLUMNS}) SELECT ${EVENT_COLUMNS} FROM r
  ), tops AS (
    SELECT session_id, max(seq) AS seq FROM r GROUP BY session_id
  ), snaps AS (
    SELECT * FROM jsonb_to_recordset($2::text::jsonb) AS x(
      session_id text, state text, snapshot jsonb, machine_version integer)
  ), changes AS (
    SELECT coalesce(tops.session_id, snaps.session_id) AS session_id, tops.seq,
      snaps.state, snaps.snapshot, snaps.machine_version
    FROM tops FULL JOIN snaps ON snaps.session_id = tops.session_id
  )
  UPDATE sessions AS s SET
    last_seq = GREATEST(s.last_seq, coalesce(c.seq, 0)),
    state = coalesce(c.state, s.state),
    snapshot = CASE WHEN c.state IS NULL THEN s.snapshot ELSE c.snapshot END,
    machine_version = coalesce(c.machine_version, s.machine_version),
    updated_at = CASE WHEN c.state IS NULL THEN s.updated_at ELSE now() END
  FROM changes AS c WHERE s.id = c.session_id`;

const SELECT_HEADS = `
  SELECT DISTINCT ON (session_id) session_id, seq, hash FROM events
  WHERE session_id IN (SELECT jsonb_array_elements_text($1::text::jsonb))
  ORDER BY session_id, seq DESC`;

/** Past this many cached chain heads the cache starts over (heads reload on demand). */
const MAX_CACHED_HEADS = 100_000;
/** A NUL escape that is not itself an escaped backslash: jsonb cannot store it. */
const JSON_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;

interface Head {
  seq: number;
  hash: string;
}

type EventRow = Omit<StoredEvent, 'execution_id'> & { execution_id: string | null };

/** What one append submits to the group commit: its events, snapshot and rows. */
type LogItem =
  | { kind: 'event'; event: OutboundEvent }
  | { kind: 'snapshot'; snapshot: SnapshotWrite }
  | { kind: 'approval'; approval: ApprovalRecord }
  | { kind: 'execution'; execution: ExecutionRecord };

/** A snapshot as jsonb will hold it; a NUL character cannot be stored. */
function storable(snapshot: SnapshotWrite): SnapshotWrite {
  const json = JSON.stringify(snapshot.snapshot) ?? 'null';
  if (JSON_NUL.test(json)) {
    throw new StoreError(
      'unstorable_event',
      `session ${snapshot.session_id}: the snapshot holds a NUL character`,
    );
  }
  return { ...snapshot, snapshot: JSON.parse(json) as unknown };
}

/** An approval row as jsonb will hold it (its args are the tool call's, already checked). */
function storableApproval(approval: ApprovalRecord): ApprovalRecord {
  const json = JSON.stringify(approval);
  if (JSON_NUL.test(json)) {
    throw new StoreError(
      'unstorable_event',
      `session ${approval.session_id}: approval ${approval.request_id} holds a NUL character`,
    );
  }
  return approval;
}

export interface SqlEventLog {
  append(
    events: readonly OutboundEvent[],
    snapshot?: SnapshotWrite,
    rows?: TransitionRows,
  ): Promise<void>;
  read(sessionId: string, afterSeq: number, limit: number): Promise<StoredEvent[]>;
  lastSeq(sessionId: string): Promise<number>;
  verify(sessionId: string): Promise<ChainVerification>;
  /** Waits for batches in flight; later appends are refused. */
  close(): Promise<void>;
}

/**
 * The audit log over SQL. Appends are group-committed; each session's chain head is cached
 * after its first use, which assumes one process writes a session at a time (the design's
 * session lease). A failed batch drops the heads it touched, so they reload from the table.
 */
export function createSqlEventLog(db: SqlExecutor): SqlEventLog {
  const heads = new Map<string, Head>();
  let closed = false;

  async function loadHeads(q: SqlQuerier, sessionIds: readonly string[]): Promise<void> {
    if (heads.size > MAX_CACHED_HEADS) heads.clear();
    const missing = sessionIds.filter((id) => !heads.has(id));
    if (missing.length === 0) return;
    for (const id of missing) heads.set(id, { seq: 0, hash: GENESIS_HASH });
    const rows = await q.query(SELECT_HEADS, [JSON.stringify(missing)]);
    for (const row of rows) heads.set(String(row.session_id), toHead(row));
  }

  /** Chains one caller's events onto `tip`; throws without touching it if they do not fit. */
  function chain(events: readonly OutboundEvent[], tip: Map<string, Head>): EventRow[] {
    const own = new Map<string, Head>();
    const rows = events.map((event) => {
      const id = event.session_id;
      const head = own.get(id) ?? tip.get(id) ?? heads.get(id) ?? { seq: 0, hash: GENESIS_HASH };
      // Contiguous: a seq that was never stored (a failed append) is never skipped over.
      if (event.seq !== head.seq + 1) {
        throw new StoreError(
          'seq_out_of_order',
          `session ${id}: seq ${event.seq} does not follow ${head.seq}`,
        );
      }
      const row = toRow(event, head.hash);
      own.set(id, { seq: row.seq, hash: row.hash });
      return row;
    });
    for (const [id, head] of own) tip.set(id, head);
    return rows;
  }

  const batcher = createGroupCommit<LogItem>(async (submissions) => {
    const sessionIds = [
      ...new Set(
        submissions.flat().flatMap((i) => (i.kind === 'event' ? [i.event.session_id] : [])),
      ),
    ];
    try {
      await loadHeads(db, sessionIds);
      const tip = new Map<string, Head>();
      const rows: EventRow[] = [];
      // The last snapshot of each session in the batch is the one that follows its events;
      // the first row of a request id stands (as a replay's would), the last of an execution.
      const snapshots = new Map<string, SnapshotWrite>();
      const approvals = new Map<string, ApprovalRecord>();
      const executions = new Map<string, ExecutionRecord>();
      const results = submissions.map((items) => {
        try {
          const events: OutboundEvent[] = [];
          const written: SnapshotWrite[] = [];
          const requests: ApprovalRecord[] = [];
          const runs: ExecutionRecord[] = [];
          for (const item of items) {
            if (item.kind === 'event') events.push(item.event);
            else if (item.kind === 'snapshot') written.push(storable(item.snapshot));
            else if (item.kind === 'approval') requests.push(storableApproval(item.approval));
            else runs.push(item.execution);
          }
          rows.push(...chain(events, tip));
          for (const snapshot of written) snapshots.set(snapshot.session_id, snapshot);
          for (const a of requests)
            if (!approvals.has(a.request_id)) approvals.set(a.request_id, a);
          for (const e of runs) executions.set(e.execution_id, e);
          return undefined;
        } catch (error) {
          return error as Error;
        }
      });
      if (rows.length > 0 || snapshots.size > 0 || approvals.size > 0 || executions.size > 0) {
        await db.query(INSERT_EVENTS, [
          JSON.stringify(rows),
          JSON.stringify([...snapshots.values()]),
          JSON.stringify([...approvals.values()]),
          JSON.stringify([...executions.values()]),
        ]);
      }
      for (const [id, head] of tip) heads.set(id, head);
      return results;
    } catch (error) {
      for (const id of sessionIds) heads.delete(id);
      throw isUniqueViolation(error)
        ? new StoreError(
            'seq_out_of_order',
            `another writer stored events of session(s) ${sessionIds.join(', ')} meanwhile`,
          )
        : error;
    }
  });

  return {
    append(events, snapshot, extra = {}) {
      if (closed) return Promise.reject(new StoreError('store_closed', 'the store is closed'));
      const items: LogItem[] = events.map((event) => ({ kind: 'event', event }));
      if (snapshot) items.push({ kind: 'snapshot', snapshot });
      for (const approval of extra.approvals ?? []) items.push({ kind: 'approval', approval });
      for (const execution of extra.executions ?? []) items.push({ kind: 'execution', execution });
      if (items.length === 0) return Promise.resolve();
      const sessionId =
        events[0]?.session_id ?? snapshot?.session_id ?? extra.approvals?.[0]?.session_id ?? '';
      // A batch fails as a whole: each caller learns it with its own session named.
      return batcher.submit(items).catch((error: unknown) => {
        throw inSession(error, sessionId);
      });
    },
    async read(sessionId, afterSeq, limit) {
      const rows = await db.query(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE session_id = $1 AND seq > $2
         ORDER BY seq LIMIT $3`,
        [sessionId, afterSeq, limit],
      );
      return rows.map(toStoredEvent);
    },
    async lastSeq(sessionId) {
      const rows = await db.query(
        'SELECT coalesce(max(seq), 0) AS seq FROM events WHERE session_id = $1',
        [sessionId],
      );
      return Number(rows[0]?.seq ?? 0);
    },
    async verify(sessionId) {
      const rows = await db.query(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE session_id = $1 ORDER BY seq`,
        [sessionId],
      );
      return verifyEvents(sessionId, rows.map(toStoredEvent));
    },
    async close() {
      closed = true;
      await batcher.drain();
    },
  };
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof StoreError && error.sqlState === '23505';
}

function toHead(row: Record<string, unknown>): Head {
  return { seq: Number(row.seq), hash: String(row.hash) };
}

/**
 * The row as it will read back: data goes through JSON (as jsonb will keep it) before it is
 * hashed, and only the stored envelope fields are hashed, so verifyEvents recomputes it.
 */
function toRow(event: OutboundEvent, prevHash: string): EventRow {
  const dataJson = JSON.stringify(event.data) ?? 'null';
  if (JSON_NUL.test(dataJson)) {
    throw new StoreError(
      'unstorable_event',
      `session ${event.session_id}: seq ${event.seq} holds a NUL character`,
    );
  }
  const stored = {
    type: event.type,
    session_id: event.session_id,
    seq: event.seq,
    timestamp: event.timestamp,
    state: event.state,
    ...(event.execution_id === undefined ? {} : { execution_id: event.execution_id }),
    data: JSON.parse(dataJson) as unknown,
  } as OutboundEvent;
  const hash = chainHash(prevHash, stored);
  return { ...stored, execution_id: event.execution_id ?? null, prev_hash: prevHash, hash };
}
