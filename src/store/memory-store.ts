import type { OutboundEvent } from '../protocol/outbound.ts';
import { StoreError } from './store-error.ts';
import { chainHash, GENESIS_HASH, verifyEvents } from './event-chain.ts';
import {
  checkNodeId,
  createHeldEpochs,
  sessionMoved,
  type Ownership,
} from './session-ownership.ts';
import type {
  ApprovalRecord,
  DecideResult,
  ExecutionRecord,
  SessionRecord,
  SnapshotPart,
  SnapshotWrite,
  Store,
  StoredEvent,
  ToolOutcome,
  TransitionRows,
} from './store.ts';

function nodeIdError(nodeId: string): Error | undefined {
  try {
    checkNodeId(nodeId);
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

const TERMINAL_OR_IDLE = new Set(['idle', 'complete', 'cancelled', 'failed']);

/** A Store in process memory: for unit tests of the runtime. Nothing survives the process. */
export function createMemoryStore(): Store {
  const sessions = new Map<string, SessionRecord>();
  const events = new Map<string, StoredEvent[]>();
  const approvals = new Map<string, ApprovalRecord>();
  const executions = new Map<string, ExecutionRecord>();
  const outcomes = new Map<string, ToolOutcome>();
  const parts = new Map<string, SnapshotPart>();
  const owners = new Map<string, Ownership>();
  const held = createHeldEpochs();
  const clone = <T>(value: T): T => structuredClone(value);

  /** As the SQL store's fencing; one process has no other writer, but has claims and a lease. */
  function refusal(
    named: readonly (string | undefined)[],
    what: string,
    also: readonly (string | undefined)[] = [],
  ): Error | undefined {
    const known = named.filter((id) => id !== undefined);
    if (known.length === 0 && held.fencing()) {
      return new Error(`in cluster mode a ${what} must name its session`);
    }
    for (const id of new Set([...known, ...also])) {
      if (id === undefined) continue;
      const refused = held.refusal(id);
      if (refused) return refused;
    }
    return undefined;
  }

  /** As the SQL store: a request id already there keeps its row (and its decision). */
  function insertApproval(approval: ApprovalRecord): void {
    if (!approvals.has(approval.request_id)) approvals.set(approval.request_id, clone(approval));
  }

  return {
    kind: 'memory',
    ping: () => Promise.resolve(),
    isAvailable: () => true,

    createSession({ owner_node, ...input }) {
      if (owner_node !== undefined) {
        const invalid = nodeIdError(owner_node);
        if (invalid) return Promise.reject(invalid);
      }
      const now = new Date().toISOString();
      owners.set(input.id, { owner_node: owner_node ?? null, owner_epoch: owner_node ? 1 : 0 });
      if (owner_node !== undefined) held.hold(input.id, 1);
      const record: SessionRecord = {
        ...input,
        snapshot: null,
        last_seq: 0,
        created_at: now,
        updated_at: now,
      };
      sessions.set(input.id, record);
      return Promise.resolve(clone(record));
    },
    getSession: (id) => Promise.resolve(clone(sessions.get(id))),
    listSessions(q) {
      const pendingOf = (id: string) =>
        [...approvals.values()].filter((a) => a.session_id === id && a.status === 'pending').length;
      const key = (s: { created_at: string; id: string }) => `${s.created_at}\u0000${s.id}`;
      const after = q.after && key(q.after);
      const matching = [...sessions.values()]
        .filter(
          (s) =>
            (q.owner === undefined || s.owner === q.owner) &&
            (q.state === undefined || s.state === q.state) &&
            (q.pending === undefined || pendingOf(s.id) > 0 === q.pending) &&
            (after === undefined || key(s) < after),
        )
        .sort((a, b) => (key(a) < key(b) ? 1 : -1));
      const page = matching.slice(0, q.limit);
      const last = page.at(-1);
      return Promise.resolve({
        sessions: page.map((s) => ({
          id: s.id,
          owner: s.owner,
          state: s.state,
          last_seq: s.last_seq,
          created_at: s.created_at,
          updated_at: s.updated_at,
          pending_approvals: pendingOf(s.id),
        })),
        next:
          matching.length > q.limit && last ? { created_at: last.created_at, id: last.id } : null,
      });
    },
    listActiveSessions: () =>
      Promise.resolve(
        [...sessions.values()].filter((s) => !TERMINAL_OR_IDLE.has(s.state)).map(clone),
      ),
    appendEvents(
      batch: readonly OutboundEvent[],
      snapshot?: SnapshotWrite,
      rows: TransitionRows = {},
    ) {
      const refused = refusal(
        [
          ...batch.map((e) => e.session_id),
          snapshot?.session_id,
          ...[rows.approvals, rows.executions, rows.parts, rows.toolStarts].flatMap((list) =>
            (list ?? []).map((row) => row.session_id),
          ),
        ],
        'append',
      );
      if (refused) return Promise.reject(refused);
      const next = new Map<string, number>();
      for (const event of batch) {
        const last = next.get(event.session_id) ?? events.get(event.session_id)?.at(-1)?.seq ?? 0;
        if (event.seq !== last + 1) {
          const message = `session ${event.session_id}: seq ${event.seq} does not follow ${last}`;
          return Promise.reject(new StoreError('seq_out_of_order', message));
        }
        next.set(event.session_id, event.seq);
      }
      for (const event of batch) {
        const log = events.get(event.session_id) ?? [];
        const prev = log.at(-1)?.hash ?? GENESIS_HASH;
        const stored = {
          ...clone(event),
          prev_hash: prev,
          hash: chainHash(prev, event),
        };
        log.push(stored);
        events.set(event.session_id, log);
        const session = sessions.get(event.session_id);
        if (session) session.last_seq = event.seq;
      }
      const record = snapshot && sessions.get(snapshot.session_id);
      if (snapshot && record) {
        Object.assign(record, {
          state: snapshot.state,
          snapshot: clone(snapshot.snapshot),
          machine_version: snapshot.machine_version,
          updated_at: new Date().toISOString(),
        });
      }
      for (const approval of rows.approvals ?? []) insertApproval(approval);
      for (const execution of rows.executions ?? []) {
        executions.set(execution.execution_id, clone(execution));
      }
      const startedCalls: string[] = [];
      for (const start of rows.toolStarts ?? []) {
        const { session_id: _session, ...outcome } = start;
        if (outcomes.has(start.call_id)) continue;
        outcomes.set(start.call_id, clone(outcome));
        startedCalls.push(start.call_id);
      }
      for (const outcome of rows.toolOutcomes ?? []) outcomes.set(outcome.call_id, clone(outcome));
      for (const part of rows.parts ?? []) {
        const key = `${part.session_id}\u0000${part.part}\u0000${part.idx}`;
        if (!parts.has(key)) parts.set(key, clone(part));
      }
      return Promise.resolve({ startedCalls });
    },
    readEvents: (sessionId, afterSeq, limit) =>
      Promise.resolve(
        (events.get(sessionId) ?? [])
          .filter((e) => e.seq > afterSeq)
          .slice(0, limit)
          .map(clone),
      ),
    readSnapshotParts: (sessionId, names) =>
      Promise.resolve(
        [...parts.values()]
          .filter((p) => p.session_id === sessionId && names.includes(p.part))
          .sort((a, b) => (a.part < b.part ? -1 : a.part > b.part ? 1 : a.idx - b.idx))
          .map(clone),
      ),
    lastSeq: (sessionId) => Promise.resolve(events.get(sessionId)?.at(-1)?.seq ?? 0),
    lastSeqs(ids) {
      const seqs = new Map<string, number>();
      for (const id of ids) {
        const session = sessions.get(id);
        if (session) seqs.set(id, session.last_seq);
      }
      return Promise.resolve(seqs);
    },
    verifyChain: (sessionId) =>
      Promise.resolve(verifyEvents(sessionId, events.get(sessionId) ?? [])),

    upsertExecution(execution) {
      const refused = refusal([execution.session_id], 'execution');
      if (refused) return Promise.reject(refused);
      executions.set(execution.execution_id, clone(execution));
      return Promise.resolve();
    },

    createApproval(approval) {
      const refused = refusal([approval.session_id], 'approval');
      if (refused) return Promise.reject(refused);
      insertApproval(approval);
      return Promise.resolve();
    },
    getApproval: (requestId) => Promise.resolve(clone(approvals.get(requestId))),
    listApprovals: (filter) =>
      Promise.resolve(
        [...approvals.values()]
          .filter(
            (a) =>
              (filter.status === undefined || a.status === filter.status) &&
              (filter.session_id === undefined || a.session_id === filter.session_id),
          )
          .map(clone),
      ),
    decideApproval(decision): Promise<DecideResult> {
      const approval = approvals.get(decision.request_id);
      const refused = refusal([decision.session_id], 'decision', [approval?.session_id]);
      if (refused) return Promise.reject(refused);
      if (!approval) return Promise.resolve({ ok: false, reason: 'not_found' });
      if (approval.status !== 'pending') {
        return Promise.resolve({ ok: false, reason: 'already_decided', approval: clone(approval) });
      }
      Object.assign(approval, {
        status: decision.status,
        decided_by: decision.decided_by,
        decided_at: decision.decided_at,
        decision_reason: decision.decision_reason ?? null,
        edited_args: decision.edited_args ?? null,
      });
      return Promise.resolve({ ok: true, approval: clone(approval) });
    },

    listPendingDeadlines(q) {
      const key = (d: { expires_at: string; request_id: string }) =>
        `${new Date(d.expires_at).toISOString()}\u0000${d.request_id}`;
      const after = q.after && key(q.after);
      return Promise.resolve(
        [...approvals.values()]
          .filter((a) => a.status === 'pending' && (after === undefined || key(a) > after))
          .sort((a, b) => (key(a) < key(b) ? -1 : 1))
          .slice(0, q.limit)
          .map(({ request_id, session_id, expires_at }) => ({
            request_id,
            session_id,
            expires_at,
          })),
      );
    },

    getToolOutcome: (callId) => Promise.resolve(clone(outcomes.get(callId))),
    recordToolStart(outcome, sessionId) {
      const refused = refusal([sessionId], 'tool start');
      if (refused) return Promise.reject(refused);
      if (outcomes.has(outcome.call_id)) return Promise.resolve(false);
      outcomes.set(outcome.call_id, clone(outcome));
      return Promise.resolve(true);
    },
    recordToolOutcome(outcome, sessionId) {
      const refused = refusal([sessionId], 'tool outcome');
      if (refused) return Promise.reject(refused);
      outcomes.set(outcome.call_id, clone(outcome));
      return Promise.resolve();
    },

    claimSession(id, nodeId, seenEpoch) {
      const invalid = nodeIdError(nodeId);
      if (invalid) return Promise.reject(invalid);
      if (!held.leaseValid()) {
        return Promise.reject(sessionMoved(id, "this node's lease has lapsed"));
      }
      const now = owners.get(id);
      if (!now)
        return Promise.reject(new StoreError('session_not_found', `no session ${id} to claim`));
      if (now.owner_epoch !== seenEpoch) {
        const mine = now.owner_node === nodeId && now.owner_epoch === held.get(id);
        if (held.get(id) !== undefined && !mine) held.lose(id);
        return Promise.resolve({ ok: false, ...now });
      }
      const epoch = seenEpoch + 1;
      owners.set(id, { owner_node: nodeId, owner_epoch: epoch });
      held.hold(id, epoch);
      return Promise.resolve({ ok: true, epoch });
    },
    releaseSession: (id) => held.forget(id),
    disownSession(id, nodeId) {
      const epoch = held.get(id);
      held.forget(id);
      const now = owners.get(id);
      if (now && now.owner_node === nodeId && now.owner_epoch === epoch)
        owners.set(id, { owner_node: null, owner_epoch: now.owner_epoch });
      return Promise.resolve();
    },
    getOwnership: (id) => Promise.resolve(clone(owners.get(id))),
    fenceWrites: (leaseValid) => held.fence(leaseValid),

    close: () => Promise.resolve(),
  };
}
