-- The inspector's session list: newest first, per owner or for everyone, and "has a pending
-- approval" answered from a small partial index.

CREATE INDEX sessions_list_idx ON sessions (created_at DESC, id DESC);
CREATE INDEX sessions_owner_list_idx ON sessions (owner, created_at DESC, id DESC);
CREATE INDEX approvals_pending_session_idx ON approvals (session_id) WHERE status = 'pending';
