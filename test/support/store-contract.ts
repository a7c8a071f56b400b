import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stripChain } from '../../src/store/event-chain.ts';
import type { Store } from '../../src/store/store.ts';
import { approval, thinking, toolResult, uid, type Backend } from './store-fixtures.ts';
import { sqlContract } from './store-sql-contract.ts';

/** The behaviour every Store shares; `sql` adds what only a database can show. */
export function describeStore(name: string, sql: boolean, setup: () => Promise<Backend>): void {
  describe(name, () => {
    let backend: Backend;
    const opened: Store[] = [];
    const open = async (): Promise<Store> => {
      const store = await backend.open();
      opened.push(store);
      return store;
    };
    let store: Store;

    beforeAll(async () => {
      backend = await setup();
    });
    afterAll(async () => {
      await backend.teardown?.();
    });
    beforeAll(async () => {
      store = await open();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(1).map((s) => s.close()));
    });
    afterAll(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it('creates, reads and snapshots a session', async () => {
      const id = uid('s');
      const created = await store.createSession({
        id,
        owner: 'alice',
        state: 'idle',
        machine_version: 1,
      });
      expect(created).toMatchObject({ id, owner: 'alice', state: 'idle', last_seq: 0 });
      expect(created.snapshot).toBeNull();
      expect(new Date(created.created_at).toISOString()).toBe(created.created_at);
      expect(await store.getSession(id)).toEqual(created);
      expect(await store.getSession(uid('missing'))).toBeUndefined();

      const snapshot = { value: 'thinking', context: { plan: [{ tool: 'x', args: {} }], n: 2 } };
      const write = { session_id: id, state: 'thinking' as const, snapshot, machine_version: 2 };
      await store.appendEvents([], write);
      const saved = await store.getSession(id);
      expect(saved).toMatchObject({ state: 'thinking', snapshot, machine_version: 2 });

      // With its events, in one write; a refused call (a seq gap) writes neither.
      const next = { ...write, state: 'executing' as const, snapshot: { value: 'executing' } };
      await store.appendEvents([thinking(id, 1)], next);
      expect(await store.getSession(id)).toMatchObject({ state: 'executing', last_seq: 1 });
      const refused = { ...write, state: 'complete' as const, snapshot: { value: 'complete' } };
      await expect(store.appendEvents([thinking(id, 3)], refused)).rejects.toMatchObject({
        code: 'seq_out_of_order',
      });
      expect(await store.getSession(id)).toMatchObject({ state: 'executing', last_seq: 1 });

      const idle = uid('s');
      await store.createSession({ id: idle, owner: 'bob', state: 'idle', machine_version: 1 });
      const active = (await store.listActiveSessions()).map((s) => s.id);
      expect(active).toContain(id);
      expect(active).not.toContain(idle);
    });

    it('appends events and reads them back after a seq, with a limit', async () => {
      const id = uid('s');
      await store.createSession({ id, owner: 'alice', state: 'idle', machine_version: 1 });
      const sent = [thinking(id, 1), toolResult(id, 2), thinking(id, 3)];
      await store.appendEvents(sent.slice(0, 2));
      await store.appendEvents(sent.slice(2));

      const all = await store.readEvents(id, 0, 10);
      expect(all.map(stripChain)).toEqual(sent);
      expect(all[1]?.prev_hash).toBe(all[0]?.hash);
      expect((await store.readEvents(id, 1, 1)).map((e) => e.seq)).toEqual([2]);
      expect(await store.readEvents(id, 3, 10)).toEqual([]);
      expect(await store.lastSeq(id)).toBe(3);
      expect(await store.lastSeq(uid('none'))).toBe(0);
      expect((await store.getSession(id))?.last_seq).toBe(3);
      expect(await store.verifyChain(id)).toEqual({ ok: true, session_id: id, events: 3 });
    });

    it('keeps a verifiable chain for data JSON cannot hold as given', async () => {
      const id = uid('s');
      const odd = toolResult(id, 1);
      odd.data = { ...odd.data, result: { when: new Date(0), list: [1, undefined], nan: NaN } };
      await store.appendEvents([odd, thinking(id, 2)]);
      expect(await store.verifyChain(id)).toEqual({ ok: true, session_id: id, events: 2 });
    });

    it('stores 500 concurrent single-event appends of 5 sessions in order', async () => {
      const ids = Array.from({ length: 5 }, () => uid('s'));
      const calls: Promise<unknown>[] = [];
      for (let seq = 1; seq <= 100; seq += 1) {
        for (const id of ids) calls.push(store.appendEvents([thinking(id, seq)]));
      }
      await Promise.all(calls);
      for (const id of ids) {
        const events = await store.readEvents(id, 0, 1000);
        expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
        expect(await store.verifyChain(id)).toEqual({ ok: true, session_id: id, events: 100 });
      }
    });

    it('lets exactly one of two concurrent decisions win', async () => {
      const id = uid('s');
      const a = approval(id);
      await store.createApproval(a);
      expect(await store.getApproval(a.request_id)).toEqual(a);

      const [first, second] = await Promise.all([
        store.decideApproval({
          request_id: a.request_id,
          status: 'approved',
          decided_by: 'alice',
          decided_at: '2030-01-01T00:01:00.000Z',
        }),
        store.decideApproval({
          request_id: a.request_id,
          status: 'rejected',
          decided_by: 'bob',
          decided_at: '2030-01-01T00:01:00.000Z',
          decision_reason: 'no',
        }),
      ]);
      const results = [first, second];
      const winners = results.filter((r) => r?.ok);
      expect(winners).toHaveLength(1);
      const loser = results.find((r) => r && !r.ok);
      const winner = winners[0];
      if (!winner?.ok || !loser || loser.ok || loser.reason !== 'already_decided') {
        throw new Error('expected one winner and one already_decided');
      }
      expect(loser.approval).toEqual(winner.approval);
      expect(await store.getApproval(a.request_id)).toEqual(winner.approval);

      expect(
        await store.decideApproval({
          request_id: uid('req'),
          status: 'approved',
          decided_by: 'alice',
          decided_at: '2030-01-01T00:01:00.000Z',
        }),
      ).toEqual({ ok: false, reason: 'not_found' });
    });

    it('records an edit with its arguments and lists approvals by status and session', async () => {
      const id = uid('s');
      const a = approval(id);
      const b = approval(id, { created_at: '2030-01-01T00:00:05.000Z' });
      const other = approval(uid('s'));
      for (const x of [a, b, other]) await store.createApproval(x);
      const edited = await store.decideApproval({
        request_id: a.request_id,
        status: 'edited',
        decided_by: 'carol',
        decided_at: '2030-01-01T00:02:00.000Z',
        decision_reason: 'smaller amount',
        edited_args: { to: 'acct-9', amount: 100 },
      });
      expect(edited).toEqual({
        ok: true,
        approval: {
          ...a,
          status: 'edited',
          decided_by: 'carol',
          decided_at: '2030-01-01T00:02:00.000Z',
          decision_reason: 'smaller amount',
          edited_args: { to: 'acct-9', amount: 100 },
        },
      });
      const ids = async (filter: Parameters<Store['listApprovals']>[0]) =>
        (await store.listApprovals(filter)).map((x) => x.request_id);
      expect(await ids({ session_id: id })).toEqual([a.request_id, b.request_id]);
      expect(await ids({ session_id: id, status: 'pending' })).toEqual([b.request_id]);
      expect(await ids({ status: 'pending' })).toContain(other.request_id);
    });

    it('lists pending deadlines earliest first, in pages, without decided ones', async () => {
      // A year of its own: the file's other tests leave pending approvals in 2030.
      const id = uid('s');
      const at = (minute: number) => `2099-01-01T00:${String(minute).padStart(2, '0')}:00.000Z`;
      const late = approval(id, { request_id: `${uid('req')}-b`, expires_at: at(30) });
      const tie = approval(id, {
        request_id: `${late.request_id.slice(0, -2)}-a`,
        expires_at: at(30),
      });
      const early = approval(uid('s'), { expires_at: at(10) });
      const decided = approval(id, { expires_at: at(5) });
      for (const x of [late, tie, early, decided]) await store.createApproval(x);
      await store.decideApproval({
        request_id: decided.request_id,
        status: 'approved',
        decided_by: 'bob',
        decided_at: at(1),
      });
      const start = { expires_at: '2098-12-31T23:59:59.999Z', request_id: '' };
      const first = await store.listPendingDeadlines({ after: start, limit: 2 });
      expect(first).toEqual([
        { request_id: early.request_id, session_id: early.session_id, expires_at: at(10) },
        { request_id: tie.request_id, session_id: id, expires_at: at(30) },
      ]);
      const last = first[1]!;
      const next = await store.listPendingDeadlines({ after: last, limit: 2 });
      expect(next).toEqual([{ request_id: late.request_id, session_id: id, expires_at: at(30) }]);
      const all = await store.listPendingDeadlines({ limit: 10_000 });
      expect(all.map((d) => d.request_id)).not.toContain(decided.request_id);
      const times = all.map((d) => Date.parse(d.expires_at));
      expect(times).toEqual([...times].sort((a, b) => a - b));
    });

    it('records a tool call start once, then its outcome', async () => {
      const callId = uid('call');
      const start = {
        status: 'started',
        call_id: callId,
        tool: 'search',
        args: { q: 'x' },
      } as const;
      expect(await store.recordToolStart(start, uid('s'))).toBe(true);
      expect(await store.recordToolStart(start, uid('s'))).toBe(false);
      expect(await store.getToolOutcome(callId)).toEqual(start);
      const done = { status: 'succeeded', call_id: callId, tool: 'search', result: [1] } as const;
      await store.recordToolOutcome(done);
      expect(await store.getToolOutcome(callId)).toEqual(done);
      const failed = { status: 'failed', call_id: uid('call'), tool: 'x', error: 'boom' } as const;
      await store.recordToolOutcome(failed);
      expect(await store.getToolOutcome(failed.call_id)).toEqual(failed);
      expect(await store.getToolOutcome(uid('call'))).toBeUndefined();
    });

    it('upserts an execution', async () => {
      const execution = {
        execution_id: uid('exec'),
        session_id: uid('s'),
        command: 'do it',
        started_by: 'alice',
        state: 'thinking',
        started_at: '2030-01-01T00:00:00.000Z',
        ended_at: null,
      } as const;
      await store.upsertExecution(execution);
      await store.upsertExecution({
        ...execution,
        state: 'complete',
        ended_at: execution.started_at,
      });
      if (!backend.raw) return;
      const rows = await backend.raw('SELECT state FROM executions WHERE execution_id = $1', [
        execution.execution_id,
      ]);
      expect(rows).toEqual([{ state: 'complete' }]);
    });

    it('writes the approval and execution rows of a transition with its events, or none', async () => {
      const id = uid('s');
      await store.createSession({ id, owner: 'alice', state: 'idle', machine_version: 1 });
      const request = approval(id);
      const execution = {
        execution_id: uid('exec'),
        session_id: id,
        command: 'pay',
        started_by: 'alice',
        state: 'thinking',
        started_at: '2030-01-01T00:00:00.000Z',
        ended_at: null,
      } as const;
      await store.appendEvents([thinking(id, 1)], undefined, {
        approvals: [request],
        executions: [execution, { ...execution, state: 'awaiting_approval' }],
      });
      expect(await store.getApproval(request.request_id)).toEqual(request);

      // A replay of the same request never resets its decision.
      const decided = {
        status: 'approved' as const,
        decided_by: 'bob',
        decided_at: request.created_at,
      };
      await store.decideApproval({ request_id: request.request_id, ...decided });
      await store.appendEvents([thinking(id, 2)], undefined, { approvals: [request] });
      expect(await store.getApproval(request.request_id)).toMatchObject(decided);

      // A refused call (a seq gap) writes none of its rows; one beside it in the batch does.
      const other = uid('s');
      await store.createSession({ id: other, owner: 'bob', state: 'idle', machine_version: 1 });
      const lost = approval(id);
      const kept = approval(other);
      const results = await Promise.allSettled([
        store.appendEvents([thinking(id, 9)], undefined, { approvals: [lost] }),
        store.appendEvents([thinking(other, 1)], undefined, { approvals: [kept] }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
      expect(await store.getApproval(lost.request_id)).toBeUndefined();
      expect(await store.getApproval(kept.request_id)).toEqual(kept);
      if (!backend.raw) return;
      const rows = await backend.raw('SELECT state FROM executions WHERE execution_id = $1', [
        execution.execution_id,
      ]);
      expect(rows).toEqual([{ state: 'awaiting_approval' }]);
    });

    if (sql) sqlContract(() => ({ backend, store, open }));
  });
}
