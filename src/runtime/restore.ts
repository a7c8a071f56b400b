import type { Logger } from 'pino';
import type { SessionEvent } from '../../machines/session.events.ts';
import type { ApprovalRecord, Store } from '../store/store.ts';
import type { Vote } from '../../machines/session.policy.ts';
import { DECIDERS_SEPARATOR } from './decisions.ts';
import { accepts, snapshotOf } from './session-events.ts';
import type { SessionHost } from './session-host.ts';

/**
 * Brings a restored session in line with the decisions table. The snapshot may be older than
 * the last committed decision (a crash between the commit and the snapshot write): the
 * decision is given to the actor again, so no acknowledged decision is lost. Approvals still
 * pending in the table that the snapshot never reached are closed as superseded.
 */
export async function reconcileRestored(
  host: SessionHost,
  store: Store,
  pendingBefore: readonly ApprovalRecord[],
  logger: Logger,
): Promise<void> {
  const waiting = host.pendingApprovals();
  const known = new Set(waiting.map((p) => p.request_id));
  for (const stale of pendingBefore) {
    if (known.has(stale.request_id)) continue;
    await store.decideApproval({
      request_id: stale.request_id,
      session_id: host.id,
      status: 'cancelled',
      decided_by: 'system',
      decided_at: new Date().toISOString(),
      decision_reason:
        'superseded: the session was restored from a snapshot taken before this request',
    });
    logger.warn(
      { requestId: stale.request_id },
      'closed an approval the restored session never reached',
    );
  }
  for (const pending of waiting) {
    const record = await store.getApproval(pending.request_id);
    if (!record) {
      // The request's event and snapshot committed, its row did not: only in a log written
      // before the rows went into the events' own write (a crash could then part them).
      await store.createApproval({
        ...pending,
        session_id: host.id,
        execution_id: snapshotOf(host.root).context.execution_id ?? '',
        edited_args: null,
        status: 'pending',
        decided_by: null,
        decided_at: null,
        decision_reason: null,
        created_at: new Date().toISOString(),
        subagent_id: pending.subagent_id ?? null,
      });
      continue;
    }
    if (record.status === 'pending') continue;
    const event = replayOf(record, pending);
    const actor = event.type === 'cancel' ? host.root : host.actorForRequest(pending.request_id);
    if (actor && accepts(actor, event)) {
      logger.info(
        { requestId: record.request_id, status: record.status },
        're-applied a committed decision',
      );
      actor.send(event);
    }
  }
}

/**
 * The committed decision as the event that made it: its deciding vote, accepted then (so
 * `replayed`). Where several votes decided, the table lists them all and the snapshot holds
 * every one but the last: the last is what remains after those.
 */
function replayOf(
  record: ApprovalRecord,
  pending: { votes?: Vote[] | undefined; original_args?: unknown },
): SessionEvent {
  const votes = pending.votes ?? [];
  const listed = record.decided_by ?? 'system';
  const earlier = votes.map((vote) => vote.by).join(DECIDERS_SEPARATOR) + DECIDERS_SEPARATOR;
  const by = votes.length > 0 && listed.startsWith(earlier) ? listed.slice(earlier.length) : listed;
  const request_id = record.request_id;
  const replayed = true as const;
  switch (record.status) {
    case 'approved':
      return { type: 'approve', request_id, by, replayed };
    case 'edited':
      // An approval that reached the quorum on args an earlier vote's edit put up.
      if (pending.original_args !== undefined) return { type: 'approve', request_id, by, replayed };
      return {
        type: 'edit',
        request_id,
        edited_args: record.edited_args ?? record.args,
        by,
        replayed,
      };
    case 'rejected':
      return {
        type: 'reject',
        request_id,
        by,
        replayed,
        ...(record.decision_reason ? { reason: record.decision_reason } : {}),
      };
    case 'expired':
      return { type: 'approval.expired', request_id, replayed };
    case 'cancelled':
    case 'pending':
      return { type: 'cancel', by };
  }
}
