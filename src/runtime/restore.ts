import type { Logger } from 'pino';
import type { SessionEvent } from '../../machines/session.events.ts';
import type { ApprovalRecord, Store } from '../store/store.ts';
import { accepts, snapshotOf } from './session-events.ts';
import type { SessionHost } from './session-host.ts';

/**
 * Brings a restored session in line with the decisions table. The snapshot may be older than
 * the last committed decision (a crash between the commit and the snapshot write): the
 * decision is given to the actor again, so no acknowledged decision is lost. Approvals still
 * pending in the table that the snapshot never reached are closed as superseded. A cancel
 * that the log holds for the restored execution is applied again too.
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
    if (!record || record.status === 'pending') continue;
    const event = replayOf(record);
    const actor = event.type === 'cancel' ? host.root : host.actorForRequest(pending.request_id);
    if (actor && accepts(actor, event)) {
      logger.info(
        { requestId: record.request_id, status: record.status },
        're-applied a committed decision',
      );
      actor.send(event);
    }
  }
  await reapplyCancel(host, store, logger);
}

/** Events read back from the end of the log to find a cancel the snapshot has not seen. */
const CANCEL_LOOKBACK = 10;

/**
 * A cancel is acknowledged by its stored `cancelled` event, and the snapshot may not have seen
 * it: restored mid-execution, the session would run on (and run tools) after the user was told
 * it stopped. Only the cancel's own events can follow it in the log before its snapshot is
 * stored (the next command flushes first), so the last few events tell.
 */
async function reapplyCancel(host: SessionHost, store: Store, logger: Logger): Promise<void> {
  const executionId = snapshotOf(host.root).context.execution_id;
  if (executionId === null || !accepts(host.root, { type: 'cancel', by: 'system' })) return;
  const from = Math.max(0, host.lastSeq() - CANCEL_LOOKBACK);
  const tail = await store.readEvents(host.id, from, CANCEL_LOOKBACK);
  const cancelled = tail.find((e) => e.type === 'cancelled' && e.data.execution_id === executionId);
  if (cancelled?.type !== 'cancelled') return;
  const event: SessionEvent = {
    type: 'cancel',
    execution_id: executionId,
    by: cancelled.data.cancelled_by,
  };
  if (!accepts(host.root, event)) return;
  logger.info({ executionId }, 're-applied a cancel the snapshot had not seen');
  host.root.send(event);
}

function replayOf(record: ApprovalRecord): SessionEvent {
  const by = record.decided_by ?? 'system';
  const request_id = record.request_id;
  switch (record.status) {
    case 'approved':
      return { type: 'approve', request_id, by };
    case 'edited':
      return { type: 'edit', request_id, edited_args: record.edited_args ?? record.args, by };
    case 'rejected':
      return {
        type: 'reject',
        request_id,
        by,
        ...(record.decision_reason ? { reason: record.decision_reason } : {}),
      };
    case 'expired':
      return { type: 'approval.expired', request_id };
    case 'cancelled':
    case 'pending':
      return { type: 'cancel', by };
  }
}
