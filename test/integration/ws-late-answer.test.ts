import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../support/test-app.ts';
import { createMemoryStore } from '../../src/store/memory-store.ts';
import type { Store } from '../../src/store/store.ts';
import { createSession, signToken, startTestApp } from '../support/test-app.ts';
import { connect } from '../support/ws-client.ts';

// A refusal that comes back after its socket closed must not touch the closed uWS socket:
// that throws inside a promise callback, and an unhandled rejection ends the process.
// The store answers the refusal's lookup slowly, so the socket is gone by then.
let app: App;
let lookups = 0;
beforeAll(async () => {
  const inner = createMemoryStore();
  const store: Store = {
    ...inner,
    getApproval: async (requestId) => {
      lookups += 1;
      await new Promise((resolve) => setTimeout(resolve, 300));
      return inner.getApproval(requestId);
    },
  };
  app = await startTestApp({ store });
});
afterAll(async () => {
  await app?.close();
});

it('stays up when a client leaves before the answer to its refused message', async () => {
  const token = await signToken('alice');
  const sessionId = await createSession(app, token);
  const socket = await connect(app, { session_id: sessionId, token });
  await socket.waitFor('connected');
  socket.send({ type: 'approve', request_id: 'req_unknown', id: 'late' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.ws.terminate();
  await socket.closed;
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(lookups).toBe(1);

  const again = await connect(app, { session_id: sessionId, token });
  await again.waitFor('connected');
  again.send({ type: 'ping', id: 'after' });
  expect((await again.waitFor('pong')).data.id).toBe('after');
  await again.close();
});
