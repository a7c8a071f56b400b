-- Sessions, their executions, approvals, tool outcomes and the hash-chained audit log.

CREATE TABLE sessions (
  id text PRIMARY KEY,
  owner text NOT NULL,
  state text NOT NULL,
  snapshot jsonb,
  machine_version integer NOT NULL,
  last_seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_owner_idx ON sessions (owner);
CREATE INDEX sessions_active_idx ON sessions (created_at)
  WHERE state NOT IN ('idle', 'complete', 'cancelled', 'failed');

CREATE TABLE executions (
  execution_id text PRIMARY KEY,
  session_id text NOT NULL,
  command text NOT NULL,
  started_by text NOT NULL,
  state text NOT NULL,
  started_at timestamptz NOT NULL,
  ended_at timestamptz
);
CREATE INDEX executions_session_idx ON executions (session_id, started_at);

CREATE TABLE approvals (
  request_id text PRIMARY KEY,
  session_id text NOT NULL,
  execution_id text NOT NULL,
  call_id text NOT NULL,
  tool text NOT NULL,
  args jsonb NOT NULL,
  edited_args jsonb,
  reason text NOT NULL,
  status text NOT NULL
    CHECK (status IN ('pending', 'approved', 'rejected', 'edited', 'expired', 'cancelled')),
  decided_by text,
  decided_at timestamptz,
  decision_reason text,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  subagent_id text
);
CREATE INDEX approvals_session_idx ON approvals (session_id, created_at);
CREATE INDEX approvals_pending_idx ON approvals (expires_at) WHERE status = 'pending';

CREATE TABLE tool_outcomes (
  call_id text PRIMARY KEY,
  session_id text,
  tool text NOT NULL,
  status text NOT NULL CHECK (status IN ('started', 'succeeded', 'failed')),
  args jsonb,
  result jsonb,
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tool_outcomes_session_idx ON tool_outcomes (session_id);

-- "timestamp" is kept as the text that was sent, so the chain hash recomputes byte for byte.
CREATE TABLE events (
  session_id text NOT NULL,
  seq bigint NOT NULL,
  type text NOT NULL,
  state text NOT NULL,
  execution_id text,
  "timestamp" text NOT NULL,
  data jsonb NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  PRIMARY KEY (session_id, seq)
);

-- The audit log is append-only: a changed row is an error, not an edit.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events are append-only (% on seq %)', TG_OP, OLD.seq
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION events_append_only();
