import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlParam, SqlRow } from '../../src/store/sql-executor.ts';
import type { SnapshotWrite, Store } from '../../src/store/store.ts';
import { approval, thinking, uid } from './store-fixtures.ts';

/** A connection of the test's own, to leave a transaction open while a store works. */
export interface HeldConnection {
  pid: number;
  query(text: string, params?: SqlParam[]): Promise<SqlRow[]>;
  release(): Promise<void>;
}

/** One backend under the ownership contract. */
export interface OwnershipBackend {
  /** A store of its own (held epochs, chain heads), as another node has, on the shared data. */
  open: () => Promise<Store>;
  /** SQL backends: statements on the shared database. */
  raw?: (text: string, params?: SqlParam[]) => Promise<SqlRow[]>;
  /** PostgreSQL: a dedicated connection, for claims and locks racing the stores' writes. */
  connect?: () => Promise<HeldConnection>;
  teardown?: () => Promise<void>;
}

const session = (id: string, owner_node?: string) => ({
  id,
  owner: 'alice',
  state: 'idle' as const,
  machine_version: 1,
  ...(owner_node === undefined ? {} : { owner_node }),
});

const snapshot = (id: string, value: string): SnapshotWrite => ({
  session_id: id,
  state: 'thinking',
  snapshot: { value },
  machine_version: 1,
});

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the backend has no ${what}`);
  return value;
}

/** 'ok', or the code a call was refused with. */
const outcome = (r: PromiseSettledResult<unknown>): unknown =>
  r.status === 'fulfilled' ? 'ok' : (r.reason as { code?: unknown }).code;

/** Polls until `count()` reaches `n` (the statements blocked behind a held lock, say). */
async function until(count: () => Promise<number>, n: number, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await count()) < n) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Claims and fencing: what every Store does; with `sql`, what two stores on one database show;
 * with `concurrent` (PostgreSQL: `connect`), claims and writes racing on one row.
 */
export function describeOwnership(
  name: string,
  can: { sql: boolean; concurrent: boolean },
  setup: () => Promise<OwnershipBackend>,
): void {
  describe(name, () => {
    let backend: OwnershipBackend;
    const opened: Store[] = [];
    const open = async (): Promise<Store> => {
      const store = await backend.open();
      opened.push(store);
      return store;
    };
    beforeAll(async () => {
      backend = await setup();
    });
    afterAll(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
      await backend.teardown?.();
    });

    it('claims a session by compare-and-set on its epoch, which each claim bumps', async () => {
      const store = await open();
      const id = uid('s');
      await store.createSession(session(id));
      expect(await store.getOwnership(id)).toEqual({ owner_node: null, owner_epoch: 0 });
      expect(await store.claimSession(id, 'node-a', 0)).toEqual({ ok: true, epoch: 1 });
      expect(await store.claimSession(id, 'node-b', 0)).toEqual({
        ok: false,
        owner_node: 'node-a',
        owner_epoch: 1,
      });
      expect(await store.claimSession(id, 'node-b', 1)).toEqual({ ok: true, epoch: 2 });
      expect(await store.getOwnership(id)).toEqual({ owner_node: 'node-b', owner_epoch: 2 });

      const owned = uid('s');
      await store.createSession(session(owned, 'node-a'));
      expect(await store.getOwnership(owned)).toEqual({ owner_node: 'node-a', owner_epoch: 1 });
      expect(await store.getOwnership(uid('missing'))).toBeUndefined();
      await expect(store.claimSession(uid('missing'), 'node-a', 0)).rejects.toMatchObject({
        code: 'session_not_found',
      });
      await expect(store.claimSession(id, 'node a; drop', 2)).rejects.toMatchObject({
        code: 'invalid_node_id',
      });
    });

    it('in cluster mode writes only sessions it holds, and nothing once the lease lapsed', async () => {
      const store = await open();
      let lease = true;
      store.fenceWrites(() => lease);
      const [mine, unclaimed] = [uid('s'), uid('s')];
      await store.createSession(session(mine, 'node-a'));
      await store.createSession(session(unclaimed));
      await store.appendEvents([thinking(mine, 1)]);
      await expect(store.appendEvents([thinking(unclaimed, 1)])).rejects.toMatchObject({
        code: 'session_moved',
        status: 503,
      });
      // A write that names no session cannot be fenced: refused outright.
      const request = approval(mine);
      await store.createApproval(request);
      const decision = {
        request_id: request.request_id,
        status: 'approved' as const,
        decided_by: 'bob',
        decided_at: '2030-01-01T00:01:00.000Z',
      };
      await expect(store.decideApproval(decision)).rejects.toThrow(/must name its session/);

      lease = false;
      await expect(store.appendEvents([thinking(mine, 2)])).rejects.toMatchObject({
        code: 'session_moved',
        message: expect.stringMatching(/lease has lapsed.*reconnect/),
      });
      await expect(store.decideApproval({ ...decision, session_id: mine })).rejects.toMatchObject({
        code: 'session_moved',
      });
      expect(await store.lastSeq(mine)).toBe(1);
      expect((await store.getApproval(request.request_id))?.status).toBe('pending');

      // Nor does it claim anything.
      await expect(store.claimSession(unclaimed, 'node-a', 0)).rejects.toMatchObject({
        code: 'session_moved',
      });
      lease = true;
      expect(await store.claimSession(unclaimed, 'node-a', 0)).toEqual({ ok: true, epoch: 1 });
      await store.appendEvents([thinking(unclaimed, 1)]);
      await store.decideApproval({ ...decision, session_id: mine });
      store.releaseSession(mine);
      await expect(store.appendEvents([thinking(mine, 2)])).rejects.toMatchObject({
        code: 'session_moved',
      });
      expect(await store.lastSeq(unclaimed)).toBe(1);
      // Releasing forgets the claim here only: the row still names its last owner.
      expect(await store.getOwnership(mine)).toEqual({ owner_node: 'node-a', owner_epoch: 1 });
    });

    if (!can.sql) return;

    it('writes nothing of a session claimed away, fails each of its calls, commits the rest', async () => {
      const raw = need(backend.raw, 'raw access');
      const [a, b] = [await open(), await open()];
      const [x, y] = [uid('s'), uid('s')];
      await a.createSession(session(x, 'node-a'));
      await a.createSession(session(y, 'node-a'));
      const [named, unnamed] = [approval(x), approval(x)];
      const started = { status: 'started' as const, tool: 'transfer', args: { n: 1 } };
      const [c1, c2, c3, c4] = [uid('call'), uid('call'), uid('call'), uid('call')];
      await a.appendEvents([thinking(x, 1)], snapshot(x, 'one'), {
        approvals: [named, unnamed],
        toolStarts: [{ ...started, call_id: c1, session_id: x }],
      });
      expect(await a.recordToolStart({ ...started, call_id: c4 }, x)).toBe(true);
      const before = await raw('SELECT * FROM sessions WHERE id = $1', [x]);

      expect(await b.claimSession(x, 'node-b', 1)).toEqual({ ok: true, epoch: 2 });

      const decided = {
        status: 'approved' as const,
        decided_by: 'ann',
        decided_at: named.created_at,
      };
      const later = approval(x);
      const execution = {
        execution_id: uid('exec'),
        session_id: x,
        command: 'pay',
        started_by: 'alice',
        state: 'thinking' as const,
        started_at: '2030-01-01T00:00:00.000Z',
        ended_at: null,
      };
      const other = approval(y);
      // One tick: one batch, with Y's write beside X's.
      const results = await Promise.allSettled([
        a.appendEvents([thinking(x, 2)], snapshot(x, 'two'), {
          approvals: [later],
          executions: [execution],
          parts: [{ session_id: x, part: 'e:plan', idx: 0, value: { step: 1 } }],
          toolStarts: [{ ...started, call_id: c2, session_id: x }],
          toolOutcomes: [{ status: 'succeeded', call_id: c1, tool: 'transfer', result: 1 }],
        }),
        a.decideApproval({ ...decided, request_id: named.request_id, session_id: x }),
        // Names no session: fenced by the request's own (the batch holds X's epoch).
        a.decideApproval({ ...decided, request_id: unnamed.request_id }),
        a.recordToolStart({ ...started, call_id: c3 }, x),
        // Names no session: fenced by the session of the call's start.
        a.recordToolOutcome({ status: 'failed', call_id: c4, tool: 'transfer', error: 'x' }),
        a.appendEvents([thinking(y, 1)], snapshot(y, 'kept'), { approvals: [other] }),
      ]);
      expect(results.map(outcome)).toEqual([
        'session_moved',
        'session_moved',
        'session_moved',
        'session_moved',
        'session_moved',
        'ok',
      ]);
      expect(results[0]).toMatchObject({
        reason: {
          message: expect.stringMatching(/^session .* is owned by another node now \(epoch 1/),
        },
      });

      expect(await raw('SELECT * FROM sessions WHERE id = $1', [x])).toEqual([
        { ...before[0], owner_node: 'node-b', owner_epoch: expect.anything() },
      ]);
      expect((await raw('SELECT seq FROM events WHERE session_id = $1', [x])).length).toBe(1);
      const approvals = await raw(
        'SELECT request_id, status FROM approvals WHERE session_id = $1 ORDER BY request_id',
        [x],
      );
      expect(approvals).toEqual(
        [named, unnamed]
          .map((r) => ({ request_id: r.request_id, status: 'pending' }))
          .sort((p, q) => (p.request_id < q.request_id ? -1 : 1)),
      );
      expect(await raw('SELECT 1 FROM executions WHERE session_id = $1', [x])).toEqual([]);
      expect(await raw('SELECT 1 FROM snapshot_parts WHERE session_id = $1', [x])).toEqual([]);
      const calls = await raw(
        'SELECT call_id, status FROM tool_outcomes WHERE call_id IN ($1, $2, $3, $4)',
        [c1, c2, c3, c4],
      );
      expect(new Map(calls.map((r) => [r.call_id, r.status]))).toEqual(
        new Map([
          [c1, 'started'],
          [c4, 'started'],
        ]),
      );
      expect(await a.lastSeq(y)).toBe(1);
      expect((await a.getSession(y))?.snapshot).toEqual({ value: 'kept' });
      expect(await a.getApproval(other.request_id)).toEqual(other);

      // The old owner cannot write it again; the new one carries on from the table.
      await expect(a.appendEvents([thinking(x, 2)])).rejects.toMatchObject({
        code: 'session_moved',
      });
      await b.appendEvents([thinking(x, 2)], snapshot(x, 'b'));
      await b.decideApproval({ ...decided, request_id: named.request_id, session_id: x });
      expect(await b.verifyChain(x)).toEqual({ ok: true, session_id: x, events: 2 });
    });

    it('reloads the chain head on a claim: the session may have moved on elsewhere', async () => {
      const [a, b] = [await open(), await open()];
      const x = uid('s');
      await a.createSession(session(x, 'node-a'));
      await a.appendEvents([thinking(x, 1)]);
      expect(await b.claimSession(x, 'node-b', 1)).toEqual({ ok: true, epoch: 2 });
      await b.appendEvents([thinking(x, 2)]);
      expect(await a.claimSession(x, 'node-a', 2)).toEqual({ ok: true, epoch: 3 });
      await a.appendEvents([thinking(x, 3)]);
      // B's own head says 2: its write of 3 reaches the statement, which fences it out.
      await expect(b.appendEvents([thinking(x, 3)])).rejects.toMatchObject({
        code: 'session_moved',
      });
      expect(await a.verifyChain(x)).toEqual({ ok: true, session_id: x, events: 3 });
    });

    if (!can.concurrent) return;

    /** Statements waiting on a lock `holder` has, or on one of those (queued on a row). */
    const blockedBy = (holder: HeldConnection) => async () => {
      // Not on the holder: in its transaction pg_stat_activity stays as first read.
      const [row] = await need(backend.raw, 'raw access')(
        `WITH RECURSIVE waiting(pid) AS (
           SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))
           UNION
           SELECT a.pid FROM pg_stat_activity AS a JOIN waiting AS w
             ON w.pid = ANY(pg_blocking_pids(a.pid))
         )
         SELECT count(*)::int AS n FROM waiting`,
        [holder.pid],
      );
      return Number(row?.n);
    };

    it('lets exactly one of three racing claims with one seen epoch win (issue scenario 4)', async () => {
      const stores = [await open(), await open(), await open()];
      const x = uid('s');
      await stores[0]!.createSession(session(x));
      const holder = await need(backend.connect, 'a dedicated connection')();
      try {
        // The row is held, so all three claims are queued on it when it is let go.
        await holder.query('BEGIN');
        await holder.query('SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE', [x]);
        const claims = stores.map((s, i) => s.claimSession(x, `node-${i}`, 0));
        await until(blockedBy(holder), 3, 'three claims waiting on the row');
        await holder.query('COMMIT');
        const results = await Promise.all(claims);
        const won = results.filter((r) => r.ok);
        expect(won).toEqual([{ ok: true, epoch: 1 }]);
        const winner = `node-${results.findIndex((r) => r.ok)}`;
        expect(results.filter((r) => !r.ok)).toEqual([
          { ok: false, owner_node: winner, owner_epoch: 1 },
          { ok: false, owner_node: winner, owner_epoch: 1 },
        ]);
        expect(await stores[1]!.getOwnership(x)).toEqual({ owner_node: winner, owner_epoch: 1 });
      } finally {
        await holder.release();
      }
    });

    it('refuses a write that raced a claim committed while it waited; one rolled back lets it through', async () => {
      const raw = need(backend.raw, 'raw access');
      const a = await open();
      const [x, y] = [uid('s'), uid('s')];
      await a.createSession(session(x, 'node-a'));
      await a.createSession(session(y, 'node-a'));
      await a.appendEvents([thinking(x, 1)]);
      const holder = await need(backend.connect, 'a dedicated connection')();
      const claim = `UPDATE sessions SET owner_node = 'node-b', owner_epoch = owner_epoch + 1
                     WHERE id = $1 AND owner_epoch = $2`;
      try {
        // A claim that is rolled back changes nothing: the write waits for it, then goes in.
        await holder.query('BEGIN');
        await holder.query(claim, [x, 1]);
        const first = a.appendEvents([thinking(x, 2)], snapshot(x, 'two'));
        await until(blockedBy(holder), 1, 'the write waiting on the claimed row');
        await holder.query('ROLLBACK');
        await first;

        await holder.query('BEGIN');
        await holder.query(claim, [x, 1]);
        const writes = [
          a.appendEvents([thinking(x, 3)], snapshot(x, 'three')),
          a.appendEvents([thinking(y, 1)]),
        ];
        await until(blockedBy(holder), 1, 'the write waiting on the claimed row');
        await holder.query('COMMIT');
        const results = await Promise.allSettled(writes);
        expect(results.map(outcome)).toEqual(['session_moved', 'ok']);
      } finally {
        await holder.release();
      }
      expect(await raw('SELECT seq FROM events WHERE session_id = $1 ORDER BY seq', [x])).toEqual([
        { seq: expect.anything() },
        { seq: expect.anything() },
      ]);
      expect((await a.getSession(x))?.snapshot).toEqual({ value: 'two' });
      expect(await a.lastSeq(y)).toBe(1);
    });
  });
}
