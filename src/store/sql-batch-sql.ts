/** The columns and the one statement of a batch write (see sql-batch.ts). */

export const EVENT_COLUMNS =
  'session_id, seq, type, state, execution_id, "timestamp", data, prev_hash, hash';

export const APPROVAL_COLUMNS = `request_id, session_id, execution_id, call_id, tool, args,
  edited_args, reason, status, decided_by, decided_at, decision_reason, expires_at, created_at,
  subagent_id`;

const EXECUTION_COLUMNS =
  'execution_id, session_id, command, started_by, state, started_at, ended_at';

/**
 * The batch statement, with or without fencing: the variant without it is the statement as it
 * was before cluster mode, so single-process mode plans and runs nothing more (the fenced one
 * took about 1.2 ms more a batch of 100 sessions on PostgreSQL 15: row locks and filters).
 */
function batchWrite(fencing: boolean): string {
  /** A write's rows of sessions whose epoch moved on are left out. */
  const kept = (column: string) =>
    `NOT EXISTS (SELECT 1 FROM fenced AS f WHERE f.session_id = ${column})`;
  const where = (column: string) => (fencing ? `WHERE ${kept(column)}` : '');
  const and = (column: string) => (fencing ? `AND ${kept(column)}` : '');
  return `
  WITH ${
    fencing
      ? `held AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset($9::text::jsonb) AS h(session_id text, epoch bigint)
  ), locked AS MATERIALIZED (
    SELECT s.id FROM sessions AS s JOIN held AS h ON h.session_id = s.id
    WHERE s.owner_epoch = h.epoch
    ORDER BY s.id
    FOR UPDATE OF s
  ), fenced AS MATERIALIZED (
    SELECT h.session_id, h.epoch FROM held AS h
    WHERE NOT EXISTS (SELECT 1 FROM locked AS l WHERE l.id = h.session_id)
  ), `
      : ''
  }approvals_in AS (
    INSERT INTO approvals (${APPROVAL_COLUMNS})
    SELECT ${APPROVAL_COLUMNS} FROM jsonb_to_recordset($3::text::jsonb) AS a(
      request_id text, session_id text, execution_id text, call_id text, tool text, args jsonb,
      edited_args jsonb, reason text, status text, decided_by text, decided_at timestamptz,
      decision_reason text, expires_at timestamptz, created_at timestamptz, subagent_id text)
    ${where('a.session_id')}
    ON CONFLICT (request_id) DO NOTHING
  ), executions_in AS (
    INSERT INTO executions (${EXECUTION_COLUMNS})
    SELECT ${EXECUTION_COLUMNS} FROM jsonb_to_recordset($4::text::jsonb) AS e(
      execution_id text, session_id text, command text, started_by text, state text,
      started_at timestamptz, ended_at timestamptz)
    ${where('e.session_id')}
    ON CONFLICT (execution_id) DO UPDATE SET session_id = EXCLUDED.session_id,
      command = EXCLUDED.command, started_by = EXCLUDED.started_by, state = EXCLUDED.state,
      started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at
  ), decided AS (
    UPDATE approvals AS a SET status = d.status, decided_by = d.decided_by,
      decided_at = d.decided_at, decision_reason = d.decision_reason,
      edited_args = d.edited_args
    FROM jsonb_to_recordset($5::text::jsonb) AS d(request_id text, status text,
      decided_by text, decided_at timestamptz, decision_reason text, edited_args jsonb)
    WHERE a.request_id = d.request_id AND a.status = 'pending' ${and('a.session_id')}
    RETURNING ${APPROVAL_COLUMNS.replace(/(\w+)/g, 'a.$1')}
  ), started AS (
    INSERT INTO tool_outcomes (call_id, session_id, tool, status, args)
    SELECT call_id, session_id, tool, 'started', args FROM jsonb_to_recordset($6::text::jsonb)
      AS t(call_id text, session_id text, tool text, args jsonb)
    ${where('t.session_id')}
    ON CONFLICT (call_id) DO NOTHING
    RETURNING call_id
  ), ${
    fencing
      ? `outcomes AS MATERIALIZED (
    -- An outcome that names no session is the session's whose start it follows.
    SELECT o.call_id, o.tool, o.status, o.result, o.error,
      coalesce(o.session_id,
        (SELECT t.session_id FROM tool_outcomes AS t WHERE t.call_id = o.call_id)) AS session_id
    FROM jsonb_to_recordset($7::text::jsonb)
      AS o(call_id text, session_id text, tool text, status text, result jsonb, error text)
  ), outcomes_in AS (
    INSERT INTO tool_outcomes (call_id, session_id, tool, status, result, error)
    SELECT call_id, session_id, tool, status, result, error FROM outcomes AS o
    ${where('o.session_id')}
    ON CONFLICT (call_id) DO UPDATE SET tool = EXCLUDED.tool, status = EXCLUDED.status,
      result = EXCLUDED.result, error = EXCLUDED.error, updated_at = now(),
      session_id = coalesce(tool_outcomes.session_id, EXCLUDED.session_id)`
      : `outcomes_in AS (
    INSERT INTO tool_outcomes (call_id, tool, status, result, error)
    SELECT call_id, tool, status, result, error FROM jsonb_to_recordset($7::text::jsonb)
      AS o(call_id text, tool text, status text, result jsonb, error text)
    ON CONFLICT (call_id) DO UPDATE SET tool = EXCLUDED.tool, status = EXCLUDED.status,
      result = EXCLUDED.result, error = EXCLUDED.error, updated_at = now()`
  }
  ), parts_in AS (
    INSERT INTO snapshot_parts (session_id, part, idx, value)
    SELECT session_id, part, idx, value FROM jsonb_to_recordset($8::text::jsonb)
      AS p(session_id text, part text, idx integer, value jsonb)
    ${where('p.session_id')}
    ON CONFLICT (session_id, part, idx) DO NOTHING
  ), r AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset($1::text::jsonb) AS r(
      session_id text, seq bigint, type text, state text, execution_id text,
      "timestamp" text, data jsonb, prev_hash text, hash text)
    ${where('r.session_id')}
  ), inserted AS (
    INSERT INTO events (${EVENT_COLUMNS}) SELECT ${EVENT_COLUMNS} FROM r
  ), tops AS (
    SELECT session_id, max(seq) AS seq FROM r GROUP BY session_id
  ), snaps AS (
    SELECT * FROM jsonb_to_recordset($2::text::jsonb) AS x(
      session_id text, state text, snapshot jsonb, machine_version integer)
    ${where('x.session_id')}
  ), changes AS (
    SELECT coalesce(tops.session_id, snaps.session_id) AS session_id, tops.seq,
      snaps.state, snaps.snapshot, snaps.machine_version
    FROM tops FULL JOIN snaps ON snaps.session_id = tops.session_id
  ), sessions_up AS (
    UPDATE sessions AS s SET
      last_seq = GREATEST(s.last_seq, coalesce(c.seq, 0)),
      state = coalesce(c.state, s.state),
      snapshot = CASE WHEN c.state IS NULL THEN s.snapshot ELSE c.snapshot END,
      machine_version = coalesce(c.machine_version, s.machine_version),
      updated_at = CASE WHEN c.state IS NULL THEN s.updated_at ELSE now() END
    FROM changes AS c WHERE s.id = c.session_id
  )
  SELECT 'decided' AS kind, request_id AS id, to_jsonb(decided) AS row FROM decided
  UNION ALL
  SELECT 'started', call_id, NULL FROM started${
    fencing
      ? `
  UNION ALL
  SELECT 'fenced', session_id, to_jsonb(epoch) FROM fenced
  UNION ALL
  SELECT 'fenced_call', call_id, to_jsonb(session_id) FROM outcomes AS o
  WHERE NOT ${kept('o.session_id')}`
      : ''
  }`;
}

/**
 * One statement, so one atomic commit without BEGIN/COMMIT round trips, for everything a batch
 * of submissions (of many sessions) writes: the events go in and each session's last_seq
 * moves up, the snapshot written with them replaces the stored one, the approval and
 * execution rows of the same transitions go in, decisions update their pending request
 * (the status guard makes exactly one of two racing decisions win), and tool calls record
 * their start (once per call id) and their outcome. Data-modifying CTEs run even when nothing
 * reads them, all on one snapshot of the tables: the writer never puts two writes of one row
 * into one batch. The rows that come back say which decisions won and which starts were new.
 *
 * Parameters, each a JSON array as text: $1 events, $2 snapshots, $3 approvals, $4 executions,
 * $5 decisions, $6 tool starts, $7 tool outcomes, $8 snapshot parts.
 */
export const BATCH_WRITE = batchWrite(false);

/**
 * The batch statement fenced by epochs (cluster mode), for a batch writing sessions whose
 * epoch the writer holds: $9 lists them (session_id, epoch). Their rows are locked first, in
 * id order, where the epoch is still the held one; a row a concurrent claim changed is re-read
 * once that claim commits (READ COMMITTED), so its old epoch no longer matches. Every write is
 * filtered on the sessions left out (`fenced`), so it waits for those locks, and writes
 * nothing of them: no event, snapshot, approval, execution, decision (by the request's own
 * session), tool start or outcome (by the session of the call's start when the outcome names
 * none), nor snapshot part. The fenced sessions come back as rows (`fenced`, with the epoch
 * held), and so do the outcomes left out with them (`fenced_call`, with their session).
 */
export const BATCH_WRITE_FENCED = batchWrite(true);
