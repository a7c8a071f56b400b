import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import WebSocket from 'ws';
import {
  browserTransport,
  connectSession,
  createSessionClient,
  SessionClientError,
  type OutboundEvent,
  type SessionClient,
} from '../../src/client/index.ts';
import type { App } from '../support/test-app.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';
import { createSession, signToken, startTestApp } from '../support/test-app.ts';

const BIG_TRANSFER = { tool: 'transfer', args: { to: 'alice', amount: 250, currency: 'USD' } };

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

async function rejection(promise: Promise<unknown>): Promise<SessionClientError> {
  const error = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SessionClientError);
  return error as SessionClientError;
}

describe.each(testTargets())('client SDK on $name', ({ backend, transport }) => {
  let db: TestStore;
  let app: App;
  let token: string;
  const clients: SessionClient[] = [];

  async function open(options: { lastSeq?: number; sessionId?: string } = {}) {
    const sessionId = options.sessionId ?? (await createSession(app, token));
    const client = await connectSession({
      url: app.url,
      sessionId,
      token,
      timeoutMs: 5_000,
      ...(options.lastSeq !== undefined ? { lastSeq: options.lastSeq } : {}),
    });
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    db = await openTestStore(backend);
    app = await startTestApp({ transport, store: db.store });
    token = await signToken('alice');
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await app?.close();
    await db?.dispose();
  });

  it('connects, says who we are, and hands typed events to handlers', async () => {
    const client = await open();
    expect(client.status).toBe('open');
    expect(client.userId).toBe('alice');
    expect(client.state).toBe('idle');
    expect(client.lastSeq).toBe(0);

    const results: string[] = [];
    client.on('tool_result', (event) => results.push(`${event.data.tool}:${event.seq}`));
    const thinking = await client.execute('echo hi');
    expect(thinking.type).toBe('thinking');
    expect(thinking.data.command).toBe('echo hi');
    const complete = await client.waitFor(
      'complete',
      (e) => e.execution_id === thinking.execution_id,
    );
    expect(complete.data.summary.length).toBeGreaterThan(0);
    expect(results).toEqual(['echo:3']);
    expect(client.lastSeq).toBe(complete.seq);
    expect(client.state).toBe('complete');
  });

  it('runs execute -> approval_required -> approve -> complete with the helpers', async () => {
    const client = await open();
    const required = client.waitFor('approval_required');
    const thinking = await client.execute('pay alice', [BIG_TRANSFER]);
    const request = await required;
    expect(request.execution_id).toBe(thinking.execution_id);
    expect(request.data.args).toEqual(BIG_TRANSFER.args);

    const done = client.waitFor('complete');
    const approved = await client.approve(request.data.request_id);
    expect(approved.data).toMatchObject({
      request_id: request.data.request_id,
      decided_by: 'alice',
    });
    expect((await done).seq).toBeGreaterThan(approved.seq);
    expect(app.ledger.transfers()).toBeGreaterThanOrEqual(1);
  });

  it('rejects with a reason and edits with new args', async () => {
    const client = await open();
    const first = client.waitFor('approval_required');
    await client.execute('pay twice', [BIG_TRANSFER, BIG_TRANSFER]);
    const rejected = await client.reject((await first).data.request_id, 'too much');
    expect(rejected.data.reason).toBe('too much');

    const second = await client.waitFor('approval_required', undefined, { since: rejected.seq });
    const edited = await client.edit(second.data.request_id, { ...BIG_TRANSFER.args, amount: 50 });
    expect(edited.data.original_args).toEqual(BIG_TRANSFER.args);
    expect(edited.data.edited_args).toMatchObject({ amount: 50 });
    const result = await client.waitFor('tool_result', undefined, { since: edited.seq });
    expect(result.data.result).toMatchObject({ amount: 50 });
  });

  it('rejects a call with the code of the error that answers its id', async () => {
    const client = await open();
    const other = await open({ sessionId: client.sessionId });
    const errors: string[] = [];
    other.on('error', (e) => errors.push(e.data.code));

    expect((await rejection(client.approve('req_nope'))).code).toBe('approval_not_found');
    const required = client.waitFor('approval_required');
    await client.execute('pay', [BIG_TRANSFER]);
    expect((await rejection(client.execute('again'))).code).toBe('not_allowed_in_state');
    const request = (await required).data.request_id;
    await client.approve(request);
    const late = await rejection(client.approve(request));
    expect(late.code).toBe('approval_already_decided');
    expect(late.event?.data.request_id).toBe(request);

    // Invalid input never leaves the client; replies go to the asking socket only.
    expect((await rejection(client.execute(''))).code).toBe('invalid_message');
    await other.ping();
    expect(errors).toEqual([]);
  });

  it('answers ping with the pong that echoes its id', async () => {
    const client = await open();
    const [a, b] = await Promise.all([client.ping(), client.ping()]);
    expect(a.data.id).toBeDefined();
    expect(a.data.id).not.toBe(b.data.id);
  });

  it('cancels the running execution', async () => {
    const client = await open();
    const call = client.waitFor('tool_call');
    const thinking = await client.execute('nap', [{ tool: 'sleep', args: { ms: 10_000 } }]);
    await call;
    const cancelled = await client.cancel(thinking.execution_id);
    expect(cancelled.data.execution_id).toBe(thinking.execution_id);
    expect(cancelled.data.aborted.map((a) => a.kind)).toContain('tool');
    expect(client.state).toBe('cancelled');
  });

  it('waitFor times out, and can take an event that already arrived', async () => {
    const client = await open();
    const timeout = await rejection(client.waitFor('complete', undefined, 50));
    expect(timeout.code).toBe('timeout');
    const thinking = await client.execute('echo again');
    await client.waitFor('complete');
    const past = await client.waitFor('tool_result', undefined, { since: thinking.seq });
    expect(past.data.tool).toBe('echo');
    expect((await rejection(client.waitFor('tool_result', undefined, 50))).code).toBe('timeout');
  });

  it('replays from lastSeq to handlers given at connect, once each', async () => {
    const first = await open();
    const required = first.waitFor('approval_required');
    await first.execute('pay', [BIG_TRANSFER]);
    await first.approve((await required).data.request_id);
    const complete = await first.waitFor('complete');

    const seen: number[] = [];
    const replayed = await connectSession({
      url: app.url,
      sessionId: first.sessionId,
      token,
      lastSeq: 2,
      on: { complete: (e) => seen.push(e.seq) },
    });
    clients.push(replayed);
    const all = storedEvents(replayed);
    expect(seen).toEqual([complete.seq]);
    expect(replayed.lastSeq).toBe(complete.seq);
    await replayed.execute('echo more');
    await replayed.waitFor('complete');
    expect(all.map((e) => e.seq)).toEqual(range(complete.seq + 1, replayed.lastSeq));
  });

  it('keeps going when a handler throws', async () => {
    const reported: unknown[] = [];
    const client = createSessionClient({
      url: app.url,
      sessionId: await createSession(app, token),
      token,
      onError: (error) => reported.push(error),
    });
    clients.push(client);
    const seen: string[] = [];
    client.on('connected', () => {
      throw new Error('handler bug');
    });
    client.on('connected', (e) => seen.push(e.type));
    await client.connect();
    expect(seen).toEqual(['connected']);
    expect(reported).toHaveLength(1);
    expect(await client.ping()).toMatchObject({ type: 'pong' });
  });

  it('works over the WHATWG WebSocket interface, token in the query', async () => {
    const client = await connectSession({
      url: app.url,
      sessionId: await createSession(app, token),
      token,
      // ws exposes the browser's onopen/onmessage surface; this is the path browsers take.
      transport: (request) => browserTransport(WebSocket, request),
    });
    clients.push(client);
    expect(client.userId).toBe('alice');
    await client.execute('echo browser');
    expect((await client.waitFor('complete')).state).toBe('complete');
    const refused = await rejection(
      connectSession({
        url: app.url,
        sessionId: 'ses_nope',
        token,
        transport: (request) => browserTransport(WebSocket, request),
      }),
    );
    // A browser is not told the HTTP status of a refused upgrade.
    expect(refused.code).toBe('connect_failed');
  });

  it('fails to connect with the status and code of a refused upgrade', async () => {
    const missing = await rejection(connectSession({ url: app.url, sessionId: 'ses_nope', token }));
    expect(missing).toMatchObject({ code: 'session_not_found', status: 404 });
    const sessionId = await createSession(app, token);
    const anonymous = await rejection(connectSession({ url: app.url, sessionId }));
    expect(anonymous).toMatchObject({ code: 'token_missing', status: 401 });
  });

  it('rejects what is pending when closed, and refuses calls after', async () => {
    const client = await open();
    const waiting = rejection(client.waitFor('complete'));
    await client.close();
    expect((await waiting).code).toBe('closed');
    expect((await rejection(client.ping())).code).toBe('closed');
    expect(client.status).toBe('closed');
    expect((await client.closed).code).toBe('closed');
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}
