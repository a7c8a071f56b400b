import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import type { App } from '../support/test-app.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';
import { createSession, signToken, startTestApp } from '../support/test-app.ts';
import { connect } from '../support/ws-client.ts';

describe.each(testTargets())('smoke on $name', ({ backend, transport }) => {
  let db: TestStore;
  let app: App;
  beforeAll(async () => {
    db = await openTestStore(backend);
    app = await startTestApp({ transport, store: db.store });
  });
  afterAll(async () => {
    await app?.close();
    await db?.dispose();
  });

  it('runs a transfer through approval over a real socket', async () => {
    const token = await signToken('alice');
    const sessionId = await createSession(app, token);
    const socket = await connect(app, { session_id: sessionId, token });
    await socket.waitFor('connected');
    socket.send({ type: 'execute', command: 'transfer 250 USD to alice' });
    const required = await socket.waitFor('approval_required');
    socket.send({ type: 'approve', request_id: required.data.request_id });
    const complete = await socket.waitFor('complete');
    expect(complete.state).toBe('complete');
    expect(app.ledger.transfers()).toBe(1);
    await socket.close();
  });
});
