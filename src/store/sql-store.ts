import { createAvailability } from './availability.ts';
import { forSession, guardExecutor } from './driver-error.ts';
import { loadMigrations, migrate } from './migrations.ts';
import { APPROVAL_COLUMNS, createSqlEventLog } from './sql-event-log.ts';
import type { SqlExecutor } from './sql-executor.ts';
import { jsonParam, toApproval, toSession, toSessionSummary, toToolOutcome } from './sql-rows.ts';
import type { DecideResult, Store } from './store.ts';

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
  let closing: Promise<void> | undefined;

  return {
    kind,
    async ping() {
      await db.query('SELECT 1');
    },
    isAvailable: () => availability.isUp(),

    async createSession(input) {
      const rows = await forSession(input.id, () =>
        db.query(
          `INSERT INTO sessions (id, owner, state, machine_version) VALUES ($1, $2, $3, $4)
           RETURNING *`,
          [input.id, input.owner, input.state, input.machine_version],
        ),
      );
      const row = rows[0];
      if (!row) throw new Error(`session ${input.id} was not inserted`);
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
    appendEvents: (events, snapshot, rows) => log.append(events, snapshot, rows),
    readEvents: (id, afterSeq, limit) => forSession(id, () => log.read(id, afterSeq, limit)),
    lastSeq: (id) => forSession(id, () => log.lastSeq(id)),
    verifyChain: (id) => forSession(id, () => log.verify(id)),

    async upsertExecution(e) {
      await forSession(e.session_id, () =>
        db.query(
          `INSERT INTO executions
           (execution_id, session_id, command, started_by, state, started_at, ended_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (execution_id) DO UPDATE SET session_id = EXCLUDED.session_id,
           command = EXCLUDED.command, started_by = EXCLUDED.started_by,
           state = EXCLUDED.state, started_at = EXCLUDED.started_at,
           ended_at = EXCLUDED.ended_at`,
          [
            e.execution_id,
            e.session_id,
            e.command,
            e.started_by,
            e.state,
            e.started_at,
            e.ended_at,
          ],
        ),
      );
    },

    async createApproval(a) {
      // Idempotent: re-creating a request (a replay) never resets its decision.
      await forSession(a.session_id, () =>
        db.query(
          `INSERT INTO approvals (${APPROVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5,
           $6::text::jsonb, $7::text::jsonb, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (request_id) DO NOTHING`,
          [
            a.request_id,
            a.session_id,
            a.execution_id,
            a.call_id,
            a.tool,
            jsonParam(a.args),
            jsonParam(a.edited_args),
            a.reason,
            a.status,
            a.decided_by,
            a.decided_at,
            a.decision_reason,
            a.expires_at,
            a.created_at,
            a.subagent_id,
          ],
        ),
      );
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
    async decideApproval(d): Promise<DecideResult> {
      // The status guard makes this the single winner, across connections and processes.
      const won = await db.query(
        `UPDATE approvals SET status = $2, decided_by = $3, decided_at = $4,
           decision_reason = $5, edited_args = $6::text::jsonb
         WHERE request_id = $1 AND status = 'pending'
         RETURNING ${APPROVAL_COLUMNS}`,
        [
          d.request_id,
          d.status,
          d.decided_by,
          d.decided_at,
          d.decision_reason ?? null,
          jsonParam(d.edited_args ?? null),
        ],
      );
      if (won[0]) return { ok: true, approval: toApproval(won[0]) };
      const existing = await db.query(
        `SELECT ${APPROVAL_COLUMNS} FROM approvals WHERE request_id = $1`,
        [d.request_id],
      );
      return existing[0]
        ? { ok: false, reason: 'already_decided', approval: toApproval(existing[0]) }
        : { ok: false, reason: 'not_found' };
    },

    async getToolOutcome(callId) {
      const rows = await db.query('SELECT * FROM tool_outcomes WHERE call_id = $1', [callId]);
      return rows[0] && toToolOutcome(rows[0]);
    },
    async recordToolStart(o, sessionId) {
      const rows = await forSession(sessionId, () =>
        db.query(
          `INSERT INTO tool_outcomes (call_id, session_id, tool, status, args)
         VALUES ($1, $2, $3, 'started', $4::text::jsonb)
         ON CONFLICT (call_id) DO NOTHING
         RETURNING call_id`,
          [o.call_id, sessionId, o.tool, jsonParam(o.args)],
        ),
      );
      return rows.length === 1;
    },
    async recordToolOutcome(o) {
      await db.query(
        `INSERT INTO tool_outcomes (call_id, tool, status, result, error)
         VALUES ($1, $2, $3, $4::text::jsonb, $5)
         ON CONFLICT (call_id) DO UPDATE SET tool = EXCLUDED.tool, status = EXCLUDED.status,
           result = EXCLUDED.result, error = EXCLUDED.error, updated_at = now()`,
        [
          o.call_id,
          o.tool,
          o.status,
          o.status === 'succeeded' ? jsonParam(o.result) : null,
          o.status === 'failed' ? o.error : null,
        ],
      );
    },

    async listSessionIds() {
      const rows = await db.query(
        'SELECT id FROM sessions UNION SELECT DISTINCT session_id FROM events ORDER BY 1',
      );
      return rows.map((r) => String(r.id));
    },

    close() {
      closing ??= (async () => {
        availability.close();
        await log.close();
        await db.close();
        await onClose();
      })();
      return closing;
    },
  };
}
