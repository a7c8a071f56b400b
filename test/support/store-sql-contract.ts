import { describe, expect, it } from 'vitest';
import type { OutboundEvent } from '../../src/protocol/outbound.ts';
import { chainHash } from '../../src/store/event-chain.ts';
import { loadMigrations } from '../../src/store/migrations.ts';
import type { Store } from '../../src/store/store.ts';
import { approval, thinking, uid, type Backend } from './store-fixtures.ts';

interface SqlContext {
  backend: Backend;
  store: Store;
  open: () => Promise<Store>;
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the backend has no ${what}`);
  return value;
}

/** What only a database backend can show: batching, tampering, reopening, other connections. */
export function sqlContract(context: () => SqlContext): void {
  describe('as a database', () => {
    it('group-commits 500 concurrent appends into a few statements', async () => {
      const { store, eventWrites } = await need(context().backend.openCounting, 'counter')();
      try {
        const ids = Array.from({ length: 5 }, () => uid('s'));
        const before = eventWrites();
        const calls: Promise<unknown>[] = [];
        for (let seq = 1; seq <= 100; seq += 1) {
          for (const id of ids) calls.push(store.appendEvents([thinking(id, seq)]));
        }
        await Promise.all(calls);
        expect(eventWrites() - before).toBeLessThan(10);
        for (const id of ids) expect((await store.verifyChain(id)).ok).toBe(true);
      } finally {
        await store.close();
      }
    });

    it('writes the decisions, tool starts and outcomes of 50 sessions in the events own statements', async () => {
      const { store, statements } = await need(context().backend.openCounting, 'counter')();
      try {
        const ids = Array.from({ length: 50 }, () => uid('s'));
        const requests = ids.map((id) => approval(id));
        await Promise.all(
          ids.map((id, i) =>
            store.appendEvents([thinking(id, 1)], undefined, { approvals: [requests[i]!] }),
          ),
        );
        const before = statements();
        const decided_at = '2030-01-01T00:01:00.000Z';
        const [decisions, starts] = await Promise.all([
          Promise.all(
            requests.map((r) =>
              store.decideApproval({
                request_id: r.request_id,
                status: 'approved',
                decided_by: 'ann',
                decided_at,
              }),
            ),
          ),
          Promise.all(
            ids.map((id, i) =>
              store.recordToolStart(
                { status: 'started', call_id: `call-${id}`, tool: 'transfer', args: { n: i } },
                id,
              ),
            ),
          ),
          Promise.all(ids.map((id) => store.appendEvents([thinking(id, 2)]))),
        ]);
        expect(decisions.every((d) => d.ok)).toBe(true);
        expect(starts.every(Boolean)).toBe(true);
        await Promise.all(
          ids.map((id) =>
            store.recordToolOutcome({
              status: 'succeeded',
              call_id: `call-${id}`,
              tool: 'transfer',
              result: { id },
            }),
          ),
        );
        // 150 writes and 50 outcomes: a handful of batch statements, not 200 transactions.
        expect(statements() - before).toBeLessThan(10);
        const again = await store.decideApproval({
          request_id: requests[0]!.request_id,
          status: 'rejected',
          decided_by: 'bob',
          decided_at,
        });
        expect(again).toMatchObject({
          ok: false,
          reason: 'already_decided',
          approval: { status: 'approved', decided_by: 'ann' },
        });
        expect(
          await store.recordToolStart(
            { status: 'started', call_id: `call-${ids[0]}`, tool: 'transfer', args: {} },
            ids[0]!,
          ),
        ).toBe(false);
        expect(await store.getToolOutcome(`call-${ids[1]}`)).toMatchObject({
          status: 'succeeded',
          result: { id: ids[1] },
        });
        expect(await store.lastSeq(ids[2]!)).toBe(2);
      } finally {
        await store.close();
      }
    });

    it('lets exactly one of two decisions on one request in one batch win, and the start of a call once', async () => {
      const { store } = context();
      const id = uid('s');
      const request = approval(id);
      await store.appendEvents([thinking(id, 1)], undefined, { approvals: [request] });
      const decided_at = '2030-01-01T00:01:00.000Z';
      const results = await Promise.all([
        store.decideApproval({
          request_id: request.request_id,
          status: 'approved',
          decided_by: 'ann',
          decided_at,
        }),
        store.decideApproval({
          request_id: request.request_id,
          status: 'rejected',
          decided_by: 'bob',
          decided_at,
        }),
        store.decideApproval({
          request_id: uid('req'),
          status: 'approved',
          decided_by: 'ann',
          decided_at,
        }),
      ]);
      expect(results.map((r) => (r.ok ? 'won' : r.reason))).toEqual([
        'won',
        'already_decided',
        'not_found',
      ]);
      const starts = await Promise.all([
        store.recordToolStart(
          { status: 'started', call_id: `c-${id}`, tool: 'transfer', args: {} },
          id,
        ),
        store.recordToolStart(
          { status: 'started', call_id: `c-${id}`, tool: 'transfer', args: {} },
          id,
        ),
      ]);
      expect(starts).toEqual([true, false]);
    });

    it('refuses only the call whose seq does not follow', async () => {
      const { store } = context();
      const id = uid('s');
      await store.appendEvents([thinking(id, 1)]);
      const results = await Promise.allSettled([
        store.appendEvents([thinking(id, 2)]),
        store.appendEvents([thinking(id, 2)]),
        store.appendEvents([thinking(id, 3)]),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(results[1]).toMatchObject({ reason: { code: 'seq_out_of_order' } });
      expect(await store.verifyChain(id)).toEqual({ ok: true, session_id: id, events: 3 });
    });

    it('refuses a seq that would leave a gap', async () => {
      const { store } = context();
      const id = uid('s');
      await store.appendEvents([thinking(id, 1)]);
      await expect(store.appendEvents([thinking(id, 3)])).rejects.toMatchObject({
        code: 'seq_out_of_order',
      });
      await store.appendEvents([thinking(id, 2)]);
      expect(await store.verifyChain(id)).toEqual({ ok: true, session_id: id, events: 2 });
    });

    it('refuses an event jsonb cannot hold (NUL), and only that call', async () => {
      const { store } = context();
      const [x, y] = [uid('s'), uid('s')];
      const nul = thinking(x, 1);
      const backslash = thinking(y, 1);
      nul.data = { execution_id: 'exec-1', command: 'a\u0000b', plan_steps: null };
      backslash.data = { execution_id: 'exec-1', command: 'a\\u0000b', plan_steps: null };
      const results = await Promise.allSettled([
        store.appendEvents([nul]),
        store.appendEvents([backslash]),
      ]);
      expect(results[0]).toMatchObject({ reason: { code: 'unstorable_event' } });
      expect(results[1]?.status).toBe('fulfilled');
      expect((await store.readEvents(y, 0, 1))[0]?.data).toEqual(backslash.data);
    });

    it('rejects every call of a failed batch, then carries on from the table', async () => {
      const { store, backend } = context();
      const raw = need(backend.raw, 'raw access');
      const [x, y] = [uid('s'), uid('s')];
      await store.appendEvents([thinking(x, 1)]);
      // Another writer slips seq 2 in behind the store's cached chain head.
      const [first] = await store.readEvents(x, 0, 1);
      const sneaked: OutboundEvent = thinking(x, 2);
      const prev = need(first, 'first event').hash;
      await raw(
        `INSERT INTO events (session_id, seq, type, state, execution_id, "timestamp", data,
           prev_hash, hash) VALUES ($1, 2, $2, $3, $4, $5, $6::text::jsonb, $7, $8)`,
        [
          x,
          'thinking',
          'thinking',
          'exec-1',
          sneaked.timestamp,
          JSON.stringify(sneaked.data),
          prev,
          chainHash(prev, sneaked),
        ],
      );
      const results = await Promise.allSettled([
        store.appendEvents([thinking(x, 2)]),
        store.appendEvents([thinking(y, 1)]),
      ]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      expect(results[1]).toMatchObject({ reason: { code: 'seq_out_of_order' } });

      await store.appendEvents([thinking(x, 3)]);
      await store.appendEvents([thinking(y, 1)]);
      expect(await store.verifyChain(x)).toEqual({ ok: true, session_id: x, events: 3 });
      expect(await store.verifyChain(y)).toEqual({ ok: true, session_id: y, events: 1 });
    });

    it('keeps events append-only and names the seq of a row changed by hand', async () => {
      const { store, backend } = context();
      const raw = need(backend.raw, 'raw access');
      const id = uid('s');
      await store.appendEvents([thinking(id, 1), thinking(id, 2), thinking(id, 3)]);
      const tamper = `UPDATE events SET data = jsonb_set(data, '{command}', '"rm -rf /"')
                      WHERE session_id = $1 AND seq = 2`;
      await expect(raw(tamper, [id])).rejects.toThrow(/append-only/);

      await raw('ALTER TABLE events DISABLE TRIGGER events_append_only');
      try {
        await raw(tamper, [id]);
      } finally {
        await raw('ALTER TABLE events ENABLE TRIGGER events_append_only');
      }
      expect(await store.verifyChain(id)).toEqual({
        ok: false,
        session_id: id,
        events: 3,
        broken_seq: 2,
        problem: 'content does not match its hash',
      });
    });

    it('lets one decision win across two connections', async () => {
      const { store, open } = context();
      const other = await open();
      const a = approval(uid('s'));
      await store.createApproval(a);
      const decide = (s: Store, by: string) =>
        s.decideApproval({
          request_id: a.request_id,
          status: 'approved',
          decided_by: by,
          decided_at: '2030-01-01T00:01:00.000Z',
        });
      const results = await Promise.all([decide(store, 'alice'), decide(other, 'bob')]);
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok && r.reason === 'already_decided')).toHaveLength(1);

      // Creating the request again (a replay) does not reset the decision.
      await store.createApproval(a);
      expect((await other.getApproval(a.request_id))?.status).toBe('approved');
    });

    it('reopens without applying a migration twice and keeps the data', async () => {
      const { store, open, backend } = context();
      const id = uid('s');
      await store.createSession({ id, owner: 'alice', state: 'thinking', machine_version: 1 });
      await store.appendEvents([thinking(id, 1)]);
      const [again, andAgain] = await Promise.all([open(), open()]);
      expect((await again?.getSession(id))?.last_seq).toBe(1);
      expect(await andAgain?.verifyChain(id)).toEqual({ ok: true, session_id: id, events: 1 });
      const versions = await need(
        backend.raw,
        'raw access',
      )('SELECT version FROM schema_migrations ORDER BY version');
      const all = (await loadMigrations()).map((m) => m.version);
      expect(all.length).toBeGreaterThanOrEqual(3);
      expect(versions.map((v) => Number(v.version))).toEqual(all);
    });

    it('flushes pending appends on close, then refuses more', async () => {
      const { store, open } = context();
      const closing = await open();
      const id = uid('s');
      const pending = closing.appendEvents([thinking(id, 1)]);
      await closing.close();
      await expect(pending).resolves.toEqual({ startedCalls: [] });
      expect(await store.lastSeq(id)).toBe(1);
      await expect(closing.appendEvents([thinking(id, 2)])).rejects.toMatchObject({
        code: 'store_closed',
      });
    });
  });
}
