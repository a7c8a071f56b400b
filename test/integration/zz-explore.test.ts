import { afterAll, beforeAll, describe, it } from 'vitest';
import type { App } from '../../src/main.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';
import { createSession, signToken, startTestApp, http } from '../support/test-app.ts';
import { connect } from '../support/ws-client.ts';

describe('explore', () => {
  let db: TestStore;
  let app: App;
  beforeAll(async () => {
    const t = Date.now();
    db = await openTestStore('pglite');
    console.log('store', Date.now() - t);
    app = await startTestApp({ store: db.store });
    console.log('app', Date.now() - t);
  });
  afterAll(async () => {
    await app?.close();
    await db?.dispose();
  });

  it('shows', async () => {
    const token = await signToken('alice');
    const sessionId = await createSession(app, token);
    const s = await connect(app, { session_id: sessionId, token });
    await s.waitFor('connected');
    s.send({ type: 'execute', command: 'echo hi' });
    await s.waitFor('complete');
    s.send({ type: 'execute', command: 'transfer 250 USD to alice' });
    const r = await s.waitFor('approval_required');
    s.send({ type: 'reject', request_id: r.data.request_id, reason: 'too much' });
    await s.waitFor((e) => e.type === 'complete' && e.seq > r.seq);
    s.send({ type: 'execute', command: 'sleep 10000' });
    await s.waitFor('tool_call', { from: s.events.length - 1 });
    s.send({ type: 'cancel' });
    await s.waitFor('cancelled');
    s.send({ type: 'execute', command: 'transfer 250 USD to alice' });
    const r2 = await s.waitFor((e) => e.type === 'approval_required' && e.seq > r.seq);
    s.send({ type: 'cancel' });
    await s.waitFor((e) => e.type === 'cancelled' && e.seq > r2.seq);
    s.send({ type: 'approve', id: 'late', request_id: r2.data.request_id });
    await s.waitFor((e) => e.type === 'error');
    s.send({ type: 'approve', id: 'x', request_id: 'nope' });
    await s.waitFor((e) => e.type === 'error' && e.data.id === 'x');
    for (const e of s.events) console.log(JSON.stringify(e));
    const ev = await http(app, 'GET', `/api/v1/sessions/${sessionId}/events?limit=3`, { token });
    console.log(JSON.stringify(ev.body));
    const big = 'x'.repeat(70 * 1024);
    s.sendRaw(JSON.stringify({ type: 'ping', pad: big }));
    console.log('closed', await s.closed);
    const t = Date.now();
    const q = await http(app, 'POST', '/api/v1/sessions', { token, body: { pad: big } });
    console.log('413?', q.status, JSON.stringify(q.body), Date.now() - t);
    console.log(JSON.stringify((await http(app, 'PUT', '/api/v1/sessions', { token })).body));
    console.log(JSON.stringify((await http(app, 'GET', '/nope', { token })).body));
  });
});
