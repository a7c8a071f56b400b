import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import {
  connectSession,
  type ClientStatus,
  type OutboundEvent,
  type SessionClient,
} from '../../src/client/index.ts';
import type { App } from '../support/test-app.ts';
import type { Store } from '../../src/store/store.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';
import { createSession, signToken, startTestApp } from '../support/test-app.ts';

const BIG_TRANSFER = { tool: 'transfer', args: { to: 'bob', amount: 500, currency: 'USD' } };

/** The stored events a client's handlers saw (replies to the socket left out). */
function storedEvents(client: SessionClient): OutboundEvent[] {
  const seen: OutboundEvent[] = [];
  client.onAny((event) => {
    const reply =
      event.type === 'connected' ||
      event.type === 'pong' ||
      (event.type === 'error' && event.data.id !== undefined);
    if (!reply) seen.push(event);
  });
  return seen;
}

const range = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

function statusReached(client: SessionClient, status: ClientStatus): Promise<void> {
  return new Promise((resolve) => {
    if (client.status === status) return resolve();
    const off = client.onStatus((s) => {
      if (s !== status) return;
      off();
      resolve();
    });
  });
}

/**
 * A server restart in the middle of a flow: the process state is gone (new runtime, and a
 * store closed and opened again), only the database stays. uWS cannot listen again on the
 * port it just left in this process (no SO_REUSEADDR while its sockets linger), so the
 * client asks for the URL on each connect, as it would to fail over to another node.
 */
describe.each(testTargets())(
  'client across a server restart on $name',
  ({ backend, transport }) => {
    let db: TestStore;
    let dataDir: string | undefined;
    let app: App;
    let store: Store;
    let token: string;
    let client: SessionClient | undefined;
    /** While set, the client's reconnects wait for it: the server is "still down". */
    let down: Promise<void> | undefined;
    const currentUrl = async () => {
      await down;
      return app.url;
    };

    beforeAll(async () => {
      // PGlite on a data directory: memory:// would not survive the store being closed.
      dataDir = backend === 'pglite' ? await mkdtemp(join(tmpdir(), 'client-restart-')) : undefined;
      db = await openTestStore(backend, dataDir);
      store = db.store;
      app = await startTestApp({ transport, store });
      token = await signToken('carol');
    });
    afterEach(() => client?.close());
    afterAll(async () => {
      await app?.close();
      if (store !== db?.store) await store?.close();
      await db?.dispose();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    });

    async function stop(): Promise<void> {
      await app.close();
      await store.close();
    }
    async function start(): Promise<void> {
      store = await db.reopen();
      app = await startTestApp({ transport, store });
    }

    it('approves after reconnecting, and the handlers see every event exactly once', async () => {
      const sessionId = await createSession(app, token);
      let tokens = 0;
      client = await connectSession({
        url: currentUrl,
        sessionId,
        token: () => {
          tokens += 1;
          return token;
        },
        reconnect: { initialMs: 20, maxMs: 200, jitter: 0 },
        timeoutMs: 20_000,
      });
      const events = storedEvents(client);
      const statuses: ClientStatus[] = [];
      client.onStatus((s) => statuses.push(s));

      const required = client.waitFor('approval_required');
      const thinking = await client.execute('pay bob', [BIG_TRANSFER, BIG_TRANSFER]);
      const first = await required;

      await stop();
      await start();
      await client.waitFor('connected');
      expect(client.status).toBe('open');
      expect(statuses).toEqual(['reconnecting', 'open']);
      expect(tokens).toBeGreaterThanOrEqual(2); // one per attempt

      const approved = await client.approve(first.data.request_id);
      expect(approved.execution_id).toBe(thinking.execution_id);

      // The second approval is decided while the server is down: the decision waits in the
      // client, goes out once it is back, and resolves with its event.
      const second = await client.waitFor('approval_required', undefined, { since: approved.seq });
      await stop();
      await statusReached(client, 'reconnecting');
      const decision = client.approve(second.data.request_id);
      await start();
      expect((await decision).data.request_id).toBe(second.data.request_id);

      const complete = await client.waitFor('complete', undefined, { since: thinking.seq });
      expect(complete.data.steps).toBe(2);
      expect(app.ledger.transfers()).toBe(1);
      expect(events.map((e) => e.seq)).toEqual(range(1, client.lastSeq));
      expect(events.filter((e) => e.type === 'approval_required')).toHaveLength(2);
      expect(events.filter((e) => e.type === 'complete')).toHaveLength(1);
    });

    it('replays what happened while it was away, then goes on live', async () => {
      const sessionId = await createSession(app, token);
      client = await connectSession({
        url: currentUrl,
        sessionId,
        token,
        reconnect: { initialMs: 20, maxMs: 200, jitter: 0 },
        timeoutMs: 20_000,
      });
      const events = storedEvents(client);
      const required = client.waitFor('approval_required');
      await client.execute('pay bob', [BIG_TRANSFER]);
      const request = await required;

      let comeBack!: () => void;
      down = new Promise((resolve) => (comeBack = resolve));
      await stop();
      await start();
      // Another client finishes the flow before ours is let back in.
      const other = await connectSession({ url: app.url, sessionId, token });
      await other.approve(request.data.request_id);
      await other.waitFor('complete');
      await other.close();
      expect(client.status).toBe('reconnecting');
      comeBack();
      down = undefined;

      await client.waitFor('complete', undefined, { since: request.seq });
      const next = client.waitFor('complete');
      await client.execute('echo live');
      await next;
      expect(events.map((e) => e.seq)).toEqual(range(1, client.lastSeq));
      expect(events.map((e) => e.type)).toEqual([
        'thinking',
        'approval_required',
        'approved',
        'tool_call',
        'tool_result',
        'complete',
        'thinking',
        'tool_call',
        'tool_result',
        'complete',
      ]);
    });
  },
);
