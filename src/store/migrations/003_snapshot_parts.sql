-- The parts of a session's snapshot that only grow during an execution (its plan and the
-- history the planner sees) are stored once, a row per entry, instead of again in every
-- snapshot: the stored snapshot names them, and a restore reads them back.

CREATE TABLE snapshot_parts (
  session_id text NOT NULL,
  part text NOT NULL,
  idx integer NOT NULL,
  value jsonb NOT NULL,
  PRIMARY KEY (session_id, part, idx)
);
