-- Cluster mode: each session has at most one owner node, and an epoch that a claim bumps (a
-- compare-and-set), so a write holding an older epoch is refused in its own statement. Nodes
-- register, heartbeat on the database clock and hold an advisory lock on their id.
--
-- Both columns are constants by default, so adding them rewrites nothing. The batch write
-- never changes owner_node (only a claim does), so indexing it keeps the per-transition
-- updates of a session row HOT (see 005); the partial index leaves out the sessions of a
-- single-process server, which have no owner node.

ALTER TABLE sessions ADD COLUMN owner_node text;
ALTER TABLE sessions ADD COLUMN owner_epoch bigint NOT NULL DEFAULT 0;
CREATE INDEX sessions_owner_node_idx ON sessions (owner_node) WHERE owner_node IS NOT NULL;

CREATE TABLE cluster_nodes (
  node_id text PRIMARY KEY,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  lease_ms integer NOT NULL,
  stopped_at timestamptz
);
