import type { OutboundEvent } from '../protocol/outbound.ts';
import { GENESIS_HASH } from './event-chain.ts';
import { inSession } from './driver-error.ts';
import { createGroupCommit, DEFER } from './group-commit.ts';
import { APPROVAL_COLUMNS, BATCH_WRITE, BATCH_WRITE_FENCED } from './sql-batch-sql.ts';
import { createHeldEpochs, sessionMoved, type HeldEpochs } from './session-ownership.ts';
import type { SqlExecutor, SqlQuerier } from './sql-executor.ts';
import { toApproval } from './sql-rows.ts';
import { StoreError } from './store-error.ts';
import { eventRow, storableJson } from './stored-json.ts';
import type {
  AppendResult,
  ApprovalRecord,
  DecideResult,
  Decision,
  SnapshotWrite,
  ToolOutcome,
  TransitionRows,
} from './store.ts';

type ToolStart = Extract<ToolOutcome, { status: 'started' }>;

/**
 * One call of the store's write API: what the batch writer takes from it. `key` orders the
 * submissions (a session's, or one request's or call's writes, each after the one before).
 */
type Submission = { key: string; session_id?: string } & (
  | {
      kind: 'append';
      session_id: string;
      events: readonly OutboundEvent[];
      snapshot: SnapshotWrite | undefined;
      rows: TransitionRows;
    }
  | { kind: 'decision'; decision: Decision }
  | { kind: 'tool_start'; session_id: string; start: ToolStart }
  | { kind: 'tool_outcome'; session_id?: string; outcome: Exclude<ToolOutcome, ToolStart> }
);

/** The sessions a submission writes (none known: a decision or outcome that names none). */
function sessionsOf(s: Submission): string[] {
  switch (s.kind) {
    case 'append':
      return [
        ...new Set([
          s.session_id,
          ...s.events.map((e) => e.session_id),
          ...(s.snapshot ? [s.snapshot.session_id] : []),
          ...(s.rows.approvals ?? []).map((a) => a.session_id),
          ...(s.rows.executions ?? []).map((e) => e.session_id),
          ...(s.rows.parts ?? []).map((p) => p.session_id),
          ...(s.rows.toolStarts ?? []).map((t) => t.session_id),
        ]),
      ];
    case 'decision':
      return s.decision.session_id === undefined ? [] : [s.decision.session_id];
    default:
      return s.session_id === undefined ? [] : [s.session_id];
  }
}

type Result = undefined | boolean | DecideResult | AppendResult;

/** Past this many cached chain heads the cache starts over (heads reload on demand). */
const MAX_CACHED_HEADS = 100_000;
/** Batches in flight at once: a pool's connections write them side by side. */
const PIPELINE_DEPTH = 4;

/**
 * Each session's last event, one backward index probe per session whatever the planner's
 * statistics say (DISTINCT ON over an IN list scanned the whole log when they were stale).
 */
const SELECT_HEADS = `
  SELECT s.id AS session_id, e.seq, e.hash
  FROM jsonb_array_elements_text($1::text::jsonb) AS s(id)
  CROSS JOIN LATERAL (
    SELECT seq, hash FROM events WHERE session_id = s.id ORDER BY seq DESC LIMIT 1
  ) AS e`;

interface Head {
  seq: number;
  hash: string;
}

/** The JSON texts of one batch's parameters, each row serialized once. */
class BatchParams {
  readonly events: string[] = [];
  readonly snapshots = new Map<string, string>();
  readonly approvals = new Map<string, string>();
  readonly executions = new Map<string, string>();
  readonly decisions = new Map<string, string>();
  readonly starts = new Map<string, string>();
  readonly outcomes = new Map<string, string>();
  readonly parts: string[] = [];
  /** The held epoch of each session written, for the statement to check. */
  readonly held = new Map<string, number>();

  isEmpty(): boolean {
    return (
      this.events.length === 0 &&
      [
        this.snapshots,
        this.approvals,
        this.executions,
        this.decisions,
        this.starts,
        this.outcomes,
      ].every((m) => m.size === 0) &&
      this.parts.length === 0
    );
  }

  /** The statement and its parameters: fenced when the batch writes a session held here. */
  toSql(): [string, string[]] {
    return this.held.size === 0
      ? [BATCH_WRITE, this.params()]
      : [
          BATCH_WRITE_FENCED,
          [
            ...this.params(),
            JSON.stringify([...this.held].map(([session_id, epoch]) => ({ session_id, epoch }))),
          ],
        ];
  }

  private params(): string[] {
    const list = (rows: Iterable<string>) => `[${[...rows].join(',')}]`;
    return [
      list(this.events),
      list(this.snapshots.values()),
      list(this.approvals.values()),
      list(this.executions.values()),
      list(this.decisions.values()),
      list(this.starts.values()),
      list(this.outcomes.values()),
      list(this.parts),
    ];
  }
}

export interface SqlBatch {
  append(
    events: readonly OutboundEvent[],
    snapshot?: SnapshotWrite,
    rows?: TransitionRows,
  ): Promise<AppendResult>;
  decide(decision: Decision): Promise<DecideResult>;
  recordToolStart(start: ToolStart, sessionId: string): Promise<boolean>;
  recordToolOutcome(outcome: Exclude<ToolOutcome, ToolStart>, sessionId?: string): Promise<void>;
  /** A session just inserted has no events: its first append needs no lookup of its head. */
  created(sessionId: string): void;
  /** Drops the session's cached chain head: another writer may have appended since. */
  forgetHead(sessionId: string): void;
  /** Waits for batches in flight; later writes are refused. */
  close(): Promise<void>;
}

/**
 * Every write of the store, group-committed: the submissions of many sessions go out as one
 * statement (one transaction, one round trip) per batch, and up to PIPELINE_DEPTH batches are
 * in flight at once, each session's writes in order. Each session's chain head is cached after
 * its first use, which assumes one process writes a session at a time (the database lock, or
 * in cluster mode the session's claim: `held` are the epochs the statement checks). A failed
 * batch drops the heads it touched, so they reload from the table.
 */
export function createSqlBatch(
  db: SqlExecutor,
  options: { pipeline?: number; held?: HeldEpochs } = {},
): SqlBatch {
  const heads = new Map<string, Head>();
  const held = options.held ?? createHeldEpochs();
  let closed = false;

  async function loadHeads(q: SqlQuerier, sessionIds: readonly string[]): Promise<void> {
    if (heads.size > MAX_CACHED_HEADS) heads.clear();
    const missing = sessionIds.filter((id) => !heads.has(id));
    if (missing.length === 0) return;
    const rows = await q.query(SELECT_HEADS, [JSON.stringify(missing)]);
    for (const id of missing) heads.set(id, { seq: 0, hash: GENESIS_HASH });
    for (const row of rows) heads.set(String(row.session_id), toHead(row));
  }

  /** Adds one submission's rows to the batch, or throws (changing nothing) if it cannot go. */
  function add(s: Submission, params: BatchParams, tip: Map<string, Head>): void {
    const what = () => (s.session_id === undefined ? 'the batch' : `session ${s.session_id}`);
    switch (s.kind) {
      case 'append': {
        const own = new Map<string, Head>();
        const events: string[] = [];
        for (const event of s.events) {
          const id = event.session_id;
          const head = own.get(id) ?? tip.get(id) ?? heads.get(id) ?? GENESIS;
          // Contiguous: a seq that was never stored (a failed append) is never skipped over.
          if (event.seq !== head.seq + 1) {
            throw new StoreError(
              'seq_out_of_order',
              `session ${id}: seq ${event.seq} does not follow ${head.seq}`,
            );
          }
          const { hash, json } = eventRow(event, head.hash);
          own.set(id, { seq: event.seq, hash });
          events.push(json);
        }
        const snapshot = s.snapshot && storableJson(s.snapshot, () => `${what()}: the snapshot`);
        const approvals = (s.rows.approvals ?? []).map((a) => {
          const json = storableJson(a, () => `${what()}: approval ${a.request_id}`);
          return [a.request_id, json] as const;
        });
        const executions = (s.rows.executions ?? []).map(
          (e) => [e.execution_id, storableJson(e, () => `${what()}: its execution`)] as const,
        );
        const parts = (s.rows.parts ?? []).map((p) =>
          storableJson(p, () => `${what()}: its snapshot part ${p.part}`),
        );
        const starts = (s.rows.toolStarts ?? []).map(
          (t) => [t.call_id, startJson(t.call_id, t.session_id, t.tool, t.args, what)] as const,
        );
        const outcomes = (s.rows.toolOutcomes ?? []).map(
          (o) => [o.call_id, outcomeJson(o, s.session_id, what)] as const,
        );
        // Nothing above threw: the submission goes in whole.
        params.events.push(...events);
        for (const [id, head] of own) tip.set(id, head);
        // The last snapshot of a session in the batch is the one that follows its events.
        if (s.snapshot && snapshot) params.snapshots.set(s.snapshot.session_id, snapshot);
        // The first row of a request id stands (as a replay's would), the last of an execution.
        for (const [id, json] of approvals)
          if (!params.approvals.has(id)) params.approvals.set(id, json);
        for (const [id, json] of executions) params.executions.set(id, json);
        params.parts.push(...parts);
        for (const [id, json] of starts) if (!params.outcomes.has(id)) params.starts.set(id, json);
        // One row per call in a statement: an outcome stands for the start it follows.
        for (const [id, json] of outcomes) {
          params.starts.delete(id);
          params.outcomes.set(id, json);
        }
        return;
      }
      case 'decision': {
        const d = s.decision;
        params.decisions.set(
          d.request_id,
          storableJson(
            {
              request_id: d.request_id,
              status: d.status,
              decided_by: d.decided_by,
              decided_at: d.decided_at,
              decision_reason: d.decision_reason ?? null,
              edited_args: d.edited_args ?? null,
            },
            () => `${what()}: the decision on ${d.request_id}`,
          ),
        );
        return;
      }
      case 'tool_start':
        params.starts.set(
          s.start.call_id,
          startJson(s.start.call_id, s.session_id, s.start.tool, s.start.args, what),
        );
        return;
      case 'tool_outcome':
        params.outcomes.set(s.outcome.call_id, outcomeJson(s.outcome, s.session_id, what));
        return;
    }
  }

  /** Why a submission may not go at all (see HeldEpochs), or undefined; it adds its epochs. */
  function fence(
    s: Submission,
    sessions: readonly string[],
    params: BatchParams,
  ): Error | undefined {
    if (sessions.length === 0 && held.fencing()) {
      return new Error(`in cluster mode a ${s.kind.replace('_', ' ')} must name its session`);
    }
    for (const id of sessions) {
      const refusal = held.refusal(id);
      if (refusal) return refusal;
    }
    for (const id of sessions) {
      const epoch = held.get(id);
      if (typeof epoch === 'number') params.held.set(id, epoch);
    }
    return undefined;
  }

  /**
   * The rows a submission writes that no other submission of its batch may write: a statement's
   * CTEs all see the table as it was before it, so a decision would miss a request inserted
   * beside it, and a call's start and outcome would collide.
   */
  function claims(s: Submission): { own: string[]; shared: string[] } {
    switch (s.kind) {
      case 'append':
        // Appends merge their approval and tool rows, so they share the keys.
        return {
          own: [],
          shared: [
            ...(s.rows.approvals ?? []).map((a) => `d:${a.request_id}`),
            ...(s.rows.toolStarts ?? []).map((t) => `t:${t.call_id}`),
            ...(s.rows.toolOutcomes ?? []).map((o) => `t:${o.call_id}`),
          ],
        };
      case 'decision':
        return { own: [`d:${s.decision.request_id}`], shared: [] };
      case 'tool_start':
        return { own: [`t:${s.start.call_id}`], shared: [] };
      case 'tool_outcome':
        return { own: [`t:${s.outcome.call_id}`], shared: [] };
    }
  }

  async function writeBatch(
    submissions: readonly Submission[],
  ): Promise<(Result | Error | typeof DEFER)[]> {
    // Chain heads are needed only where events go in (a snapshot alone needs none).
    const sessionIds = [
      ...new Set(
        submissions.flatMap((s) =>
          s.kind === 'append' && s.events.length > 0 ? [s.session_id] : [],
        ),
      ),
    ];
    try {
      await loadHeads(db, sessionIds);
      // Single-process mode checks nothing: no claim was ever made here.
      const checking = !held.idle();
      const tip = new Map<string, Head>();
      const params = new BatchParams();
      const owned = new Set<string>();
      const shared = new Set<string>();
      const deferred = new Set<string>();
      const results: (Result | Error | typeof DEFER)[] = submissions.map((s) => {
        // A write that collides waits for the next batch, and its session's later ones too.
        const keys = claims(s);
        const collides =
          keys.own.some((k) => owned.has(k) || shared.has(k)) ||
          keys.shared.some((k) => owned.has(k));
        if (collides || deferred.has(s.key)) {
          deferred.add(s.key);
          return DEFER;
        }
        try {
          const refused = checking ? fence(s, sessionsOf(s), params) : undefined;
          if (refused) return refused;
          add(s, params, tip);
          for (const k of keys.own) owned.add(k);
          for (const k of keys.shared) shared.add(k);
          return undefined;
        } catch (error) {
          return error as Error;
        }
      });
      const rows = params.isEmpty() ? [] : await db.query(...params.toSql());
      const won = new Map<string, ApprovalRecord>();
      const started = new Set<string>();
      /** Sessions written nothing of, for their epoch moved on: the epoch this batch held. */
      const fenced = new Map<string, number>();
      const fencedCalls = new Map<string, string>();
      for (const row of rows) {
        if (row.kind === 'decided') won.set(String(row.id), toApproval(row.row as never));
        else if (row.kind === 'started') started.add(String(row.id));
        else if (row.kind === 'fenced') fenced.set(String(row.id), Number(row.row));
        else fencedCalls.set(String(row.id), String(row.row));
      }
      for (const [id, head] of tip) if (!fenced.has(id)) heads.set(id, head);
      for (const [id, epoch] of fenced) {
        heads.delete(id);
        // Unless a claim since took it again, under a new epoch.
        if (held.get(id) === epoch) held.lose(id);
      }
      const moved = (id: string) => movedOn(id, fenced.get(id));
      return await Promise.all(
        submissions.map(async (s, i): Promise<Result | Error | typeof DEFER> => {
          const result = results[i];
          if (result instanceof Error || result === DEFER) return result;
          const lost = fenced.size > 0 ? sessionsOf(s).find((id) => fenced.has(id)) : undefined;
          if (lost !== undefined) return moved(lost);
          // The batch committed: a failed lookup of why a decision lost fails that call alone.
          if (s.kind === 'decision') {
            return decision(s.decision.request_id, won, fenced).catch((error: unknown) =>
              error instanceof Error ? error : new Error(String(error)),
            );
          }
          // An outcome naming no session, left out with the session of its call's start.
          const callSession = s.kind === 'tool_outcome' && fencedCalls.get(s.outcome.call_id);
          if (callSession) return moved(callSession);
          if (s.kind === 'tool_start') return started.has(s.start.call_id);
          if (s.kind === 'append') {
            const calls = (s.rows.toolStarts ?? []).map((t) => t.call_id);
            return { startedCalls: calls.filter((id) => started.has(id)) };
          }
          return undefined;
        }),
      );
    } catch (error) {
      for (const id of sessionIds) heads.delete(id);
      throw isUniqueViolation(error)
        ? new StoreError(
            'seq_out_of_order',
            `another writer stored events of session(s) ${sessionIds.join(', ')} meanwhile`,
          )
        : error;
    }
  }

  /** A decision that won, or why it did not: the request is decided already, or unknown. */
  async function decision(
    requestId: string,
    won: ReadonlyMap<string, ApprovalRecord>,
    fenced: ReadonlyMap<string, number>,
  ): Promise<DecideResult> {
    const approval = won.get(requestId);
    if (approval) return { ok: true, approval };
    const [row] = await db.query(
      `SELECT ${APPROVAL_COLUMNS} FROM approvals WHERE request_id = $1`,
      [requestId],
    );
    if (!row) return { ok: false, reason: 'not_found' };
    const existing = toApproval(row);
    // Left out with its session, whose epoch moved on, by a decision that did not name it.
    if (fenced.has(existing.session_id)) {
      throw movedOn(existing.session_id, fenced.get(existing.session_id));
    }
    return { ok: false, reason: 'already_decided', approval: existing };
  }

  const batcher = createGroupCommit<Submission, Result>(writeBatch, {
    keyOf: (s) => s.key,
    sizeOf: (s) => (s.kind === 'append' ? Math.max(1, s.events.length) : 1),
    maxInFlight: options.pipeline ?? PIPELINE_DEPTH,
  });

  function submitOne(s: Submission): Promise<Result> {
    if (closed) return Promise.reject(new StoreError('store_closed', 'the store is closed'));
    // A batch fails as a whole: each caller learns it with its own session named.
    return batcher.submit(s).catch((error: unknown) => {
      throw s.session_id === undefined ? error : inSession(error, s.session_id);
    });
  }

  return {
    async append(events, snapshot, rows = {}) {
      const sessionId =
        events[0]?.session_id ??
        snapshot?.session_id ??
        rows.approvals?.[0]?.session_id ??
        rows.executions?.[0]?.session_id ??
        rows.parts?.[0]?.session_id;
      if (sessionId === undefined) return { startedCalls: [] };
      const key = `s:${sessionId}`;
      const result = await submitOne({
        kind: 'append',
        key,
        session_id: sessionId,
        events,
        snapshot,
        rows,
      });
      return result as AppendResult;
    },
    decide: (decision) =>
      submitOne({
        kind: 'decision',
        key: `r:${decision.request_id}`,
        decision,
      }) as Promise<DecideResult>,
    recordToolStart: (start, sessionId) =>
      submitOne({
        kind: 'tool_start',
        key: `c:${start.call_id}`,
        session_id: sessionId,
        start,
      }) as Promise<boolean>,
    async recordToolOutcome(outcome, sessionId) {
      await submitOne({
        kind: 'tool_outcome',
        key: `c:${outcome.call_id}`,
        ...(sessionId === undefined ? {} : { session_id: sessionId }),
        outcome,
      });
    },
    created(sessionId) {
      if (heads.size > MAX_CACHED_HEADS) heads.clear();
      heads.set(sessionId, GENESIS);
    },
    forgetHead: (sessionId) => void heads.delete(sessionId),
    async close() {
      closed = true;
      await batcher.drain();
    },
  };
}

const GENESIS: Head = { seq: 0, hash: GENESIS_HASH };

/** A write the statement left out: the epoch it held was not the session's any more. */
function movedOn(sessionId: string, epoch: number | undefined): StoreError {
  return sessionMoved(sessionId, `epoch ${epoch} held here was taken over by a later claim`);
}

function startJson(
  callId: string,
  sessionId: string | undefined,
  tool: string,
  args: Record<string, unknown>,
  what: () => string,
): string {
  return storableJson(
    { call_id: callId, session_id: sessionId ?? null, tool, args },
    () => `${what()}: tool call ${callId}`,
  );
}

function outcomeJson(
  o: Exclude<ToolOutcome, ToolStart>,
  sessionId: string | undefined,
  what: () => string,
): string {
  return storableJson(
    {
      call_id: o.call_id,
      session_id: sessionId ?? null,
      tool: o.tool,
      status: o.status,
      result: o.status === 'succeeded' ? (o.result ?? null) : null,
      error: o.status === 'failed' ? o.error : null,
    },
    () => `${what()}: the outcome of tool call ${o.call_id}`,
  );
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof StoreError && error.sqlState === '23505';
}

function toHead(row: Record<string, unknown>): Head {
  return { seq: Number(row.seq), hash: String(row.hash) };
}
