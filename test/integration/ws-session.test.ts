import { describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { createSession, http, signToken, startTestApp } from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import {
  expectContiguous,
  expectWireValid,
  openUserSession,
  refusedUpgrade,
  sessionEvents,
  useTestApp,
} from './harness.ts';

const isComplete = (executionId: string) => (e: WireEvent) =>
  e.type === 'complete' && e.execution_id === executionId;

/** Sends an execute and resolves with its events, from `thinking` to `complete`. */
async function execute(socket: TestSocket, message: object): Promise<WireEvent[]> {
  const from = socket.events.length;
  socket.send({ type: 'execute', ...message });
  const thinking = await socket.waitFor('thinking', { from });
  const executionId = thinking.execution_id ?? '';
  await socket.waitFor(isComplete(executionId), { from });
  return sessionEvents(socket.events, from).filter((e) => e.execution_id === executionId);
}

describe.each(testTargets())('WebSocket sessions on $name', ({ backend, transport }) => {
  const h = useTestApp({ backend, transport });

  describe('connecting', () => {
    it('starts with a connected event describing the session', async () => {
      const { sessionId, socket, connected } = await openUserSession(h.app, 'alice');
      expect(connected).toMatchObject({
        type: 'connected',
        session_id: sessionId,
        seq: 0,
        state: 'idle',
        data: {
          session_id: sessionId,
          user_id: 'alice',
          state: 'idle',
          last_seq: 0,
          pending_approvals: [],
        },
      });
      expectWireValid([connected]);
      await socket.close();
    });

    it('refuses an unknown session with 404 and a missing session_id with 400', async () => {
      const token = await signToken('alice');
      const unknown = await refusedUpgrade(connect(h.app, { session_id: 'ses_nope', token }));
      expect(unknown).toMatchObject({
        status: 404,
        body: { error: { code: 'session_not_found' } },
      });
      const missing = await refusedUpgrade(connect(h.app, { token }));
      expect(missing).toMatchObject({
        status: 400,
        body: { error: { code: 'session_id_required' } },
      });
      const sessionId = await createSession(h.app, token);
      const badSeq = await refusedUpgrade(
        connect(h.app, { session_id: sessionId, token, last_seq: -1 }),
      );
      expect(badSeq.status).toBe(400);
    });

    it('refuses sockets past the connection limit with 429', async () => {
      const small = await startTestApp({
        transport,
        store: h.db.store,
        limits: { maxConnections: 1 },
      });
      try {
        const { token, sessionId, socket } = await openUserSession(small);
        const refused = await refusedUpgrade(connect(small, { session_id: sessionId, token }));
        expect(refused).toMatchObject({
          status: 429,
          body: { error: { code: 'too_many_connections' } },
        });
        await socket.close();
        const again = await connect(small, { session_id: sessionId, token });
        await again.waitFor('connected');
        await again.close();
      } finally {
        await small.close();
      }
    });
  });

  describe('executing', () => {
    it('streams thinking, tool_call, tool_result, complete with rising seq', async () => {
      const { socket } = await openUserSession(h.app);
      const events = await execute(socket, { command: 'echo hello' });
      expect(events.map((e) => e.type)).toEqual([
        'thinking',
        'tool_call',
        'tool_result',
        'complete',
      ]);
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect(events.map((e) => e.state)).toEqual(['thinking', 'executing', 'thinking', 'complete']);
      expect(events[1]?.data).toMatchObject({ tool: 'echo', args: { text: 'hello' } });
      expect(events[2]?.data).toMatchObject({ tool: 'echo', result: { text: 'hello' } });
      expect(events[3]?.data.summary).toContain('hello');
      expectWireValid(socket.events);
      await socket.close();
    });

    it('runs several executions in a row on one session', async () => {
      const { socket } = await openUserSession(h.app);
      const runs = [
        await execute(socket, { command: 'echo one' }),
        await execute(socket, { command: 'balance of alice' }),
        await execute(socket, {
          command: 'two steps',
          plan: [
            { tool: 'echo', args: { text: 'a' } },
            { tool: 'get_balance', args: { account: 'bob' } },
          ],
        }),
      ];
      const ids = runs.map((run) => run[0]?.execution_id);
      expect(new Set(ids).size).toBe(3);
      expect(runs[2]?.map((e) => e.type)).toEqual([
        'thinking',
        'tool_call',
        'tool_result',
        'tool_call',
        'tool_result',
        'complete',
      ]);
      expect(runs[1]?.at(-1)?.data.summary).toContain('get_balance');
      const all = sessionEvents(socket.events);
      expect(all).toEqual(runs.flat());
      expectContiguous(all);
      expect(all[0]?.seq).toBe(1);
      expectWireValid(socket.events);
      await socket.close();
    });

    it('stores and sends a failing tool as an error event; the session fails and recovers', async () => {
      const { socket } = await openUserSession(h.app);
      const from = socket.events.length;
      socket.send({ type: 'execute', command: 'fail on purpose' });
      const error = await socket.waitFor('error', { from });
      expect(error.state).toBe('failed');
      expect(error.data).toMatchObject({ code: 'tool_failed', call_id: expect.any(String) });
      expect(error.data.message).toContain('on purpose');
      expect(error.seq).toBeGreaterThan(0);
      const after = await execute(socket, { command: 'echo recovered' });
      expect(after.at(-1)?.state).toBe('complete');
      expectContiguous(sessionEvents(socket.events));
      expectWireValid(socket.events);
      await socket.close();
    });
  });

  describe('reconnecting', () => {
    it('keeps the state and replays exactly the missed events after last_seq', async () => {
      const { token, sessionId, socket: first } = await openUserSession(h.app);
      const watcher = await connect(h.app, { session_id: sessionId, token });
      await watcher.waitFor('connected');
      await execute(first, { command: 'echo before' });

      // The first socket leaves while the execution waits for a human; it goes on without it.
      const from = first.events.length;
      first.send({
        type: 'execute',
        command: 'while away',
        plan: [
          { tool: 'echo', args: { text: 'a' } },
          { tool: 'transfer', args: { to: 'bob', amount: 150, currency: 'USD' } },
          { tool: 'echo', args: { text: 'b' } },
        ],
      });
      const required = await first.waitFor('approval_required', { from });
      expect(await first.close()).toBe(1000);
      const seen = first.events.at(-1)?.seq ?? 0;
      expect(seen).toBe(required.seq);
      watcher.send({ type: 'approve', request_id: required.data.request_id });
      await watcher.waitFor(isComplete(required.execution_id ?? 'none'));

      const back = await connect(h.app, { session_id: sessionId, token, last_seq: seen });
      const expected = sessionEvents(watcher.events).filter((e) => e.seq > seen);
      const last = expected.at(-1)!;
      await back.waitFor((e) => e.seq === last.seq && e.type === last.type);
      expect(back.events[0]?.type).toBe('connected');
      expect(back.events[0]?.data).toMatchObject({ state: 'complete', last_seq: last.seq });
      expect(back.events.slice(1)).toEqual(expected);
      expectContiguous([...sessionEvents(first.events), ...back.events.slice(1)]);

      // Then live, continuing from where the replay stopped.
      const live = await execute(back, { command: 'echo after' });
      expect(live[0]?.seq).toBe(last.seq + 1);
      expectContiguous(sessionEvents(back.events));
      expectWireValid(back.events);
      await Promise.all([back.close(), watcher.close()]);
    });

    it('replays a log longer than one replay page (500 events) in full', async () => {
      const { token, sessionId, socket } = await openUserSession(h.app);
      const plan = Array.from({ length: 100 }, (_, i) => ({
        tool: 'echo',
        args: { text: `${i}` },
      }));
      for (let run = 0; run < 3; run++) await execute(socket, { command: `run ${run}`, plan });
      const total = sessionEvents(socket.events).length;
      expect(total).toBeGreaterThan(600);
      const back = await connect(h.app, { session_id: sessionId, token, last_seq: 0 });
      await back.waitFor((e) => e.seq === total && e.type === 'complete');
      expect(back.events.slice(1)).toEqual(sessionEvents(socket.events));
      await Promise.all([socket.close(), back.close()]);
    });

    it('has no gap and no duplicate when it replays while events are being produced', async () => {
      const { token, sessionId, socket: driver } = await openUserSession(h.app);
      const plan = Array.from({ length: 25 }, (_, i) => ({ tool: 'echo', args: { text: `${i}` } }));
      driver.send({ type: 'execute', command: 'many steps', plan });
      await driver.waitFor('tool_result');
      const late = await connect(h.app, { session_id: sessionId, token, last_seq: 0 });
      const done = await late.waitFor('complete');
      const replayed = sessionEvents(late.events);
      expect(replayed[0]?.seq).toBe(1);
      expect(replayed.at(-1)).toEqual(done);
      expectContiguous(replayed);
      await driver.waitFor('complete');
      expect(replayed).toEqual(sessionEvents(driver.events));
      const log = await http<{ events: WireEvent[] }>(
        h.app,
        'GET',
        `/api/v1/sessions/${sessionId}/events?limit=1000`,
        {
          token,
        },
      );
      expect(log.body.events.map((e) => e.seq)).toEqual(replayed.map((e) => e.seq));
      await Promise.all([late.close(), driver.close()]);
    });
  });

  it('gives two sockets of one session every event, in the same order', async () => {
    const { token, sessionId, socket: a } = await openUserSession(h.app);
    const b = await connect(h.app, { session_id: sessionId, token });
    await b.waitFor('connected');
    a.send({
      type: 'execute',
      command: 'mixed',
      plan: [
        { tool: 'echo', args: { text: 'x' } },
        { tool: 'transfer', args: { to: 'bob', amount: 150, currency: 'USD' } },
        { tool: 'fail', args: { message: 'boom' } },
      ],
    });
    const required = await b.waitFor('approval_required');
    b.send({ type: 'approve', request_id: required.data.request_id });
    await Promise.all([a.waitFor('error'), b.waitFor('error')]);
    b.send({ type: 'execute', command: 'echo again' });
    await Promise.all([a.waitFor('complete'), b.waitFor('complete')]);
    const ofA = sessionEvents(a.events);
    const ofB = sessionEvents(b.events);
    expect(ofA.length).toBeGreaterThanOrEqual(12);
    expect(ofA).toEqual(ofB);
    expect(a.events.filter((e) => e.type === 'error')).toEqual(
      b.events.filter((e) => e.type === 'error'),
    );
    expectContiguous(ofA);
    expectWireValid(a.events);
    await Promise.all([a.close(), b.close()]);
  });
});
