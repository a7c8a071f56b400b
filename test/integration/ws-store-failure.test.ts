import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFlakyStore } from '../support/flaky-store.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';
import { testTargets } from '../support/targets.ts';
import { createSession, signToken, startTestApp, type App } from '../support/test-app.ts';
import { connect, type WireEvent } from '../support/ws-client.ts';
import { expectContiguous, sessionEvents } from './harness.ts';

const BIG = { tool: 'transfer', args: { to: 'bob', amount: 250, currency: 'USD' } };

// Issue "Hardening", defect 4: a session whose event could not be stored was restored as a new
// host while the socket route kept publishing from the old one: its sockets got nothing, ever.
describe.each(testTargets())('a failed event write on $name', ({ backend, transport }) => {
  let db: TestStore;
  let app: App;
  let flaky: ReturnType<typeof createFlakyStore>;
  beforeAll(async () => {
    db = await openTestStore(backend);
    flaky = createFlakyStore(db.store);
    app = await startTestApp({ store: flaky.store, transport });
  });
  afterAll(async () => {
    await app?.close();
    await db?.dispose();
  });

  it('closes the sockets with 1012; they resume with last_seq, see no gap, and the flow goes on', async () => {
    const token = await signToken('alice');
    const sessionId = await createSession(app, token);
    const socket = await connect(app, { session_id: sessionId, token });
    const bystander = await connect(app, { session_id: sessionId, token });
    await Promise.all([socket.waitFor('connected'), bystander.waitFor('connected')]);
    socket.send({
      type: 'execute',
      command: 'pay bob',
      plan: [{ tool: 'echo', args: { text: 'a' } }, BIG],
    });
    await socket.waitFor('approval_required');
    const before = sessionEvents(socket.events);

    flaky.failNextAppends(1);
    const request = before.find((e) => e.type === 'approval_required')!;
    socket.send({ type: 'approve', request_id: request.data.request_id });
    const [closed, closedToo] = await Promise.all([socket.closed, bystander.closed]);
    expect([closed.code, closedToo.code]).toEqual([1012, 1012]);

    // Resuming from what it saw: the session is back (restored from its snapshot) and moves on.
    const lastSeq = before.at(-1)!.seq;
    const resumed = await connect(app, { session_id: sessionId, token, last_seq: lastSeq });
    const connected = await resumed.waitFor('connected');
    const pending = connected.data.pending_approvals as { request_id: string }[];
    const isComplete = (e: WireEvent) => e.type === 'complete';
    if (pending.length > 0) resumed.send({ type: 'approve', request_id: pending[0]!.request_id });
    await resumed.waitFor(isComplete, { timeoutMs: 10_000 });
    const all = [...before, ...sessionEvents(resumed.events)];
    expectContiguous(all);
    expect(all.filter((e) => e.type === 'tool_result').map((e) => String(e.data.tool))).toEqual([
      'echo',
      'transfer',
    ]);

    // A socket that connects afterwards gets live events again.
    const later = await connect(app, { session_id: sessionId, token });
    await later.waitFor('connected');
    later.send({ type: 'execute', command: 'echo still here' });
    await later.waitFor(isComplete);
    await Promise.all([resumed.close(), later.close()]);
  });
});
