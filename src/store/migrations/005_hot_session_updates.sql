-- Every transition rewrites its session's row (the snapshot, state, last_seq). An index whose
-- predicate names `state` made each of those a full update: a new entry in every index of the
-- table. Without it, and with room left in each page, they are HOT updates (no index entries
-- at all). Restoring the active sessions at start scans the table instead, once.

DROP INDEX sessions_active_idx;
ALTER TABLE sessions SET (fillfactor = 50);
