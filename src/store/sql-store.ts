import { createAvailability } from './availability.ts';
import { forSession, guardExecutor } from './driver-error.ts';
import { loadMigrations, migrate } from './migrations.ts';
import { createSqlBatch } from './sql-batch.ts';
import { APPROVAL_COLUMNS } from './sql-batch-sql.ts';
import { createSqlEventLog } from './sql-event-log.ts';
import type { SqlExecutor } from './sql-executor.ts';
import { checkNodeId, createHeldEpochs, sessionMoved } from './session-ownership.ts';
import { StoreError } from './store-error.ts';
import {
  toApproval,
  toOwnership,
  toPendingDeadline,
  toSession,
  toSessionSummary,
  toSnapshotPart,
  toToolOutcome,
} from './sql-rows.ts';
import type { Ownership, Store } from './store.ts';

/** A Store over SQL, plus what the audit CLI needs. */
export interface SqlStore extends Store {
  /** Every session id with a row or at least one event, sorted. */
  listSessionIds(): Promise<string[]>;
}

/**
 * The one SQL implementation of Store, for PostgreSQL and PGlite alike. Applies pending
 * migrations before it resolves. `onClose` runs after the executor is closed (lock release).
 */
export async function openSqlStore(
  driver: SqlExecutor,
  kind: string,
  onClose: () => Promise<void> = () => Promise.resolve(),
): Promise<SqlStore> {
  // Driver errors carry the SQL, its parameters and the values: they stop here.
  const availability = createAvailability(() => driver.query('SELECT 1'));
  const db = guardExecutor(driver, availability);
  await migrate(db, await loadMigrations());
  const log = createSqlEventLog(db);
  const held = createHeldEpochs();
  const batch = createSqlBatch(db, { held });
  let closing: Promise<void> | undefined;

  async function getOwnership(id: string): Promise<Ownership | undefined> {
    const [row] = await forSession(id, () =>
      db.query('SELECT owner_node, owner_epoch FROM sessions WHERE id = $1', [id]),
    );
    return row && toOwnership(row);
  }

  return {
    kind,
    async ping() {
      await db.query('SELECT 1');
    },
    isAvailable: () => availability.isUp(),

    async createSession(input) {
      const node = input.owner_node ?? null;
      if (node !== null) checkNodeId(node);
      const rows = await forSession(input.id, () =>
        db.query(
          `INSERT INTO sessions (id, owner, state, machine_version, owner_node, owner_epoch)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
          [input.id, input.owner, input.state, input.machine_version, node, node ? 1 : 0],
        ),
      );
      const row = rows[0];
      if (!row) throw new Error(`session ${input.id} was not inserted`);
      batch.created(input.id);
      if (node !== null) held.hold(input.id, 1);
      return toSession(row);
    },
    async getSession(id) {
      const rows = await forSession(id, () =>
        db.query('SELECT * FROM sessions WHERE id = $1', [id]),
      );
      return rows[0] && toSession(rows[0]);
    },
    async listSessions(q) {
      // One row past the limit tells whether there is a next page.
      const rows = await db.query(
        `SELECT s.id, s.owner, s.state, s.last_seq, s.created_at, s.updated_at,
           s.created_at::text AS created_cursor,
           (SELECT count(*) FROM approvals a
             WHERE a.session_id = s.id AND a.status = 'pending') AS pending_approvals
         FROM sessions s
         WHERE ($1::text IS NULL OR s.owner = $1)
           AND ($2::text IS NULL OR s.state = $2)
           AND ($3::boolean IS NULL OR $3 = EXISTS (SELECT 1 FROM approvals a
             WHERE a.session_id = s.id AND a.status = 'pending'))
           AND ($4::timestamptz IS NULL OR (s.created_at, s.id) < ($4::timestamptz, $5::text))
         ORDER BY s.created_at DESC, s.id DESC
         LIMIT $6`,
        [
          q.owner ?? null,
          q.state ?? null,
          q.pending ?? null,
          q.after?.created_at ?? null,
          q.after?.id ?? '',
          q.limit + 1,
        ],
      );
      const page = rows.slice(0, q.limit);
      const last = page.at(-1);
      return {
        sessions: page.map(toSessionSummary),
        next:
          rows.length > q.limit && last
            ? { created_at: String(last.created_cursor), id: String(last.id) }
            : null,
      };
    },
    async listActiveSessions() {
      const rows = await db.query(
        `SELECT * FROM sessions WHERE state NOT IN ('idle', 'complete', 'cancelled', 'failed')
         ORDER BY created_at, id`,
      );
      return rows.map(toSession);
    },
    appendEvents: (events, snapshot, rows) => batch.append(events, snapshot, rows),
    readEvents: (id, afterSeq, limit) => forSession(id, () => log.read(id, afterSeq, limit)),
    async readSnapshotParts(id, parts) {
      if (parts.length === 0) return [];
      const rows = await forSession(id, () =>
        db.query(
          `SELECT session_id, part, idx, value FROM snapshot_parts
           WHERE session_id = $1 AND part IN (SELECT jsonb_array_elements_text($2::text::jsonb))
           ORDER BY part, idx`,
          [id, JSON.stringify(parts)],
        ),
      );
      return rows.map(toSnapshotPart);
    },
    lastSeq: (id) => forSession(id, () => log.lastSeq(id)),
    async lastSeqs(ids) {
      if (ids.length === 0) return new Map();
      const rows = await db.query(
        `SELECT id, last_seq FROM sessions
         WHERE id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::text::jsonb)))`,
        [JSON.stringify(ids)],
      );
      return new Map(rows.map((row) => [String(row.id), Number(row.last_seq)]));
    },
    verifyChain: (id) => forSession(id, () => log.verify(id)),

    // Rows on their own (a restore's repairs) take the same batched write as transitions.
    async upsertExecution(e) {
      await batch.append([], undefined, { executions: [e] });
    },
    async createApproval(a) {
      await batch.append([], undefined, { approvals: [a] });
    },
    async getApproval(requestId) {
      const rows = await db.query(
        `SELECT ${APPROVAL_COLUMNS} FROM approvals WHERE request_id = $1`,
        [requestId],
      );
      return rows[0] && toApproval(rows[0]);
    },
    async listApprovals(filter) {
      const rows = await db.query(
        `SELECT ${APPROVAL_COLUMNS} FROM approvals
         WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR session_id = $2)
         ORDER BY created_at, request_id`,
        [filter.status ?? null, filter.session_id ?? null],
      );
      return rows.map(toApproval);
    },
    async listPendingDeadlines(q) {
      const rows = await db.query(
        `SELECT request_id, session_id, expires_at FROM approvals
         WHERE status = 'pending'
           AND ($1::timestamptz IS NULL OR (expires_at, request_id) > ($1::timestamptz, $2::text))
         ORDER BY expires_at, request_id
         LIMIT $3`,
        [q.after?.expires_at ?? null, q.after?.request_id ?? '', q.limit],
      );
      return rows.map(toPendingDeadline);
    },
    // Committed in the batch's one statement; the status guard picks the single winner.
    decideApproval: (d) => batch.decide(d),
    async getToolOutcome(callId) {
      const rows = await db.query('SELECT * FROM tool_outcomes WHERE call_id = $1', [callId]);
      return rows[0] && toToolOutcome(rows[0]);
    },
    recordToolStart: (o, sessionId) => batch.recordToolStart(o, sessionId),
    recordToolOutcome: (o, sessionId) => batch.recordToolOutcome(o, sessionId),

    async claimSession(id, nodeId, seenEpoch) {
      checkNodeId(nodeId);
      if (!held.leaseValid()) throw sessionMoved(id, "this node's lease has lapsed");
      const [won] = await forSession(id, () =>
        db.query(
          `UPDATE sessions SET owner_node = $2, owner_epoch = owner_epoch + 1
           WHERE id = $1 AND owner_epoch = $3 RETURNING owner_epoch`,
          [id, nodeId, seenEpoch],
        ),
      );
      // Whoever held it may have appended meanwhile: the chain head reloads from the table.
      batch.forgetHead(id);
      if (won) {
        const epoch = Number(won.owner_epoch);
        held.hold(id, epoch);
        return { ok: true, epoch };
      }
      // Read after the claim lost, so a racing claim that won is seen committed.
      const now = await getOwnership(id);
      if (!now) throw new StoreError('session_not_found', `no session ${id} to claim`);
      // What this store held is someone else's now (unless it still is this node's own).
      const mine = now.owner_node === nodeId && now.owner_epoch === held.get(id);
      if (held.get(id) !== undefined && !mine) held.lose(id);
      return { ok: false, ...now };
    },
    releaseSession(id) {
      held.forget(id);
      batch.forgetHead(id);
    },
    async disownSession(id, nodeId) {
      const epoch = held.get(id);
      held.forget(id);
      batch.forgetHead(id);
      if (epoch === null || epoch === undefined) return;
      await db.query(
        'UPDATE sessions SET owner_node = NULL WHERE id = $1 AND owner_node = $2 AND owner_epoch = $3',
        [id, nodeId, epoch],
      );
    },
    getOwnership,
    fenceWrites: (leaseValid) => held.fence(leaseValid),

    async listSessionIds() {
      const rows = await db.query(
        'SELECT id FROM sessions UNION SELECT DISTINCT session_id FROM events ORDER BY 1',
      );
      return rows.map((r) => String(r.id));
    },

    close() {
      closing ??= (async () => {
        availability.close();
        await batch.close();
        await db.close();
        await onClose();
      })();
      return closing;
    },
  };
}
