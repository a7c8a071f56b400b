-- The expiry scheduler finds the next deadlines of pending approvals (of passivated sessions
-- too) in (expires_at, request_id) order: this index serves that walk and replaces the older
-- one on expires_at alone.

CREATE INDEX approvals_pending_due_idx ON approvals (expires_at, request_id)
  WHERE status = 'pending';
DROP INDEX approvals_pending_idx;
