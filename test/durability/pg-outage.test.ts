import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireDatabaseLock } from '../../src/store/database-lock.ts';
import { openPostgresStore } from '../../src/store/postgres-store.ts';
import type { Store } from '../../src/store/store.ts';
import { expectContiguous, sessionEvents } from '../integration/harness.ts';
import {
  privatePostgresMissing,
  startPrivatePostgres,
  type PrivatePostgres,
} from '../support/private-postgres.ts';
import { testTransports } from '../support/targets.ts';
import { createSession, signToken, startTestApp, type App } from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';

const missing = privatePostgresMissing();
if (missing) console.info(`skipped: the PostgreSQL outage suite (${missing})`);

const TRANSFER = { tool: 'transfer', args: { to: 'bob', amount: 250, currency: 'USD' } };

async function waitUntil(what: string, check: () => Promise<boolean>, ms = 15_000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The next event of `socket` (from index `from`) that is an `error` or the socket's close. */
async function errorOrClose(socket: TestSocket, from: number): Promise<object> {
  const error = socket
    .waitFor('error', { from, timeoutMs: 10_000 })
    .then((e) => e.data as Record<string, unknown>);
  const closed = socket.closed.then((c) => ({ closed: c.code }));
  return Promise.race([error, closed]);
}

// Issue "Hardening", defect 2: a PostgreSQL outage left sockets silently dead. This suite
// stops and starts a PostgreSQL cluster of its own (never the shared one) mid-flow.
describe.skipIf(missing !== null).each(testTransports())(
  'a PostgreSQL outage on %s',
  (transport) => {
    let pg: PrivatePostgres;
    let store: Store;
    let app: App;
    beforeAll(async () => {
      pg = await startPrivatePostgres();
      // With the database lock, as a server holds it (checked every 200 ms).
      store = await openPostgresStore({ url: pg.url, max: 4, lockWaitMs: 0, lockCheckMs: 200 });
      app = await startTestApp({ store, transport });
    }, 60_000);
    afterAll(async () => {
      await app?.close();
      await store?.close();
      pg?.dispose();
    });

    it('answers store_unavailable while it lasts, and the sockets go on after it with no gap', async () => {
      const token = await signToken('alice');
      const bobBefore = app.ledger.balance('bob');
      const paying = await createSession(app, token);
      const idle = await createSession(app, token);
      let socket = await connect(app, { session_id: paying, token });
      const idleSocket = await connect(app, { session_id: idle, token });
      await Promise.all([socket.waitFor('connected'), idleSocket.waitFor('connected')]);
      socket.send({
        type: 'execute',
        command: 'pay bob',
        plan: [{ tool: 'echo', args: { text: 'before' } }, TRANSFER],
      });
      const request = await socket.waitFor('approval_required');
      const seen: WireEvent[] = sessionEvents(socket.events);

      pg.stop();

      // A decision: refused with a clear code, nothing decided.
      let from = socket.events.length;
      socket.send({ type: 'approve', request_id: request.data.request_id });
      const decision = await errorOrClose(socket, from);
      expect(decision).toMatchObject({
        code: 'store_unavailable',
        request_id: request.data.request_id,
      });
      expect(decision).toHaveProperty('retry_after_ms');

      // A command on another session: refused too, not silently dropped.
      from = idleSocket.events.length;
      idleSocket.send({ type: 'execute', command: 'echo during the outage' });
      expect(await errorOrClose(idleSocket, from)).toMatchObject({ code: 'store_unavailable' });

      // REST: 503 with Retry-After, and /readyz says the store is down.
      const created = await fetch(`${app.url}/api/v1/sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(created.status).toBe(503);
      expect(Number(created.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await created.json()) as { error: { code: string } }).error.code).toBe(
        'store_unavailable',
      );
      expect((await fetch(`${app.url}/readyz`)).status).toBe(503);

      pg.start();
      await waitUntil('readyz', async () => (await fetch(`${app.url}/readyz`)).status === 200);
      // The restart ended the lock's connection: the server took the lock again.
      await sleep(600);
      await expect(acquireDatabaseLock({ url: pg.url, waitMs: 0 })).rejects.toMatchObject({
        code: 'database_locked',
      });

      // The same socket, or (closed with a code the SDK resumes on) a new one from last_seq.
      const stillOpen = await Promise.race([
        socket.closed.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), 200)),
      ]);
      if (!stillOpen) {
        expect((await socket.closed).code).toBe(1012);
        socket = await connect(app, { session_id: paying, token, last_seq: seen.at(-1)!.seq });
        await socket.waitFor('connected');
      }
      from = socket.events.length;
      socket.send({ type: 'approve', request_id: request.data.request_id });
      await socket.waitFor('complete', { from, timeoutMs: 15_000 });
      const all = [...seen, ...sessionEvents(socket.events, stillOpen ? seen.length : 0)];
      const unique = all.filter((e, i) => all.findIndex((o) => o.seq === e.seq) === i);
      expectContiguous(unique);
      expect(
        unique.filter((e) => e.type === 'tool_result').map((e) => String(e.data.tool)),
      ).toEqual(['echo', 'transfer']);
      expect(app.ledger.balance('bob')).toBe(bobBefore + 250);

      // The other session works again on a socket (its own or a new one), and REST creates.
      let other = idleSocket;
      const idleOpen = await Promise.race([
        idleSocket.closed.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), 50)),
      ]);
      if (!idleOpen) {
        expect((await idleSocket.closed).code).toBe(1012);
        other = await connect(app, { session_id: idle, token });
        await other.waitFor('connected');
      }
      from = other.events.length;
      other.send({ type: 'execute', command: 'echo after the outage' });
      await other.waitFor('complete', { from, timeoutMs: 15_000 });
      expect(await createSession(app, token)).toMatch(/^ses_/);
      await Promise.all([socket.close(), other.close()]);
    });
    it('a flow whose tool ends during it is restored by itself and resumed by its sockets, no gap', async () => {
      const token = await signToken('alice');
      const sessionId = await createSession(app, token);
      const socket = await connect(app, { session_id: sessionId, token });
      await socket.waitFor('connected');
      socket.send({
        type: 'execute',
        command: 'sleep through the outage',
        plan: [
          { tool: 'sleep', args: { ms: 600 } },
          { tool: 'echo', args: { text: 'after' } },
        ],
      });
      await socket.waitFor((e) => e.type === 'tool_call' && e.data.tool === 'sleep');
      pg.stop();
      // The sleep ends while the database is down: its result cannot be stored, so the session
      // is dropped and its socket told to resume (1012), never left silent.
      expect((await socket.closed).code).toBe(1012);
      const seen = sessionEvents(socket.events);

      // Meanwhile a socket cannot attach: the session's log cannot be read.
      const refused = await connect(app, { session_id: sessionId, token }).then(
        async (s) => {
          await s.close();
          return null;
        },
        (error: { status?: number; body?: string }) => error,
      );
      expect(refused?.status).toBe(503);
      expect(JSON.parse(refused?.body ?? '{}')).toMatchObject({
        error: { code: 'store_unavailable' },
      });

      pg.start();
      // Nobody connects or asks: the session comes back by itself and finishes its plan (read
      // from the store, since a REST read would restore it on demand).
      await waitUntil('the restored session to end', async () => {
        const record = await store.getSession(sessionId).catch(() => undefined);
        return record?.state === 'complete';
      });
      const resumed = await connect(app, {
        session_id: sessionId,
        token,
        last_seq: seen.at(-1)!.seq,
      });
      await resumed.waitFor('complete');
      const all = [...seen, ...sessionEvents(resumed.events)];
      expectContiguous(all);
      expect(all.filter((e) => e.type === 'tool_result').map((e) => String(e.data.tool))).toContain(
        'echo',
      );
      await resumed.close();
    });
  },
);
