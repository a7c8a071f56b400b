import { afterAll, beforeAll, describe, it } from 'vitest';
import type { App } from '../../src/main.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';
import { createSession, signToken, startTestApp } from '../support/test-app.ts';
import { connect } from '../support/ws-client.ts';

describe('explore', () => {
  let db: TestStore;
  let app: App;
  beforeAll(async () => {
    db = await openTestStore(process.env['DATABASE_URL'] ? 'postgres' : 'pglite');
    app = await startTestApp({ store: db.store });
  });
  afterAll(async () => {
    await app?.close();
    await db?.dispose();
  });

  it('closes during a failing command', async () => {
    const token = await signToken('alice');
    const sessionId = await createSession(app, token);
    for (let i = 0; i < 5; i++) {
      const s = await connect(app, { session_id: sessionId, token });
      await s.waitFor('connected');
      s.send({ type: 'approve', request_id: 'nope' });
      s.ws.terminate();
      await s.closed;
    }
    const s = await connect(app, { session_id: sessionId, token });
    await s.waitFor('connected');
    s.send({ type: 'ping' });
    await s.waitFor('pong');
    console.log('alive');
  });
});
