import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { createSession, http } from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import { createDurableData, withDirectDb, type DurableData } from './durable-data.ts';
import { runScript, startServer, type ServerProcess } from './server-process.ts';
import { auditLog, getSessionView, seqRange, sessionEvents, withoutHashes } from './wire.ts';

const PLAN = [
  { tool: 'transfer', args: { to: 'bob', amount: 150, currency: 'USD' } },
  { tool: 'echo', args: { text: 'between the transfers' } },
  { tool: 'transfer', args: { to: 'carol', amount: 120, currency: 'USD' } },
];

/** One story per backend: the tests run in order on one data set and share its processes. */
describe.each(testTargets())('restart on $name', ({ backend, transport }) => {
  let data: DurableData;
  let server: ServerProcess;
  /** Session A: one transfer waiting for approval across the restart. */
  let a: { id: string; request: WireEvent };
  /** Session B: a plan half done before the restart, and the events its first socket saw. */
  let b: { id: string; request: WireEvent; seen: WireEvent[] };
  const sockets: TestSocket[] = [];

  async function open(sessionId: string, lastSeq?: number): Promise<TestSocket> {
    const socket = await connect(server, {
      session_id: sessionId,
      ...(lastSeq === undefined ? {} : { last_seq: lastSeq }),
    });
    sockets.push(socket);
    await socket.waitFor('connected');
    return socket;
  }

  beforeAll(async () => {
    data = await createDurableData(backend, transport);
    server = await startServer(data);
  });
  afterAll(async () => {
    for (const socket of sockets) socket.ws.terminate();
    await server?.stop();
    await data?.dispose();
  });

  it('a graceful stop (SIGTERM) closes the sockets with 1001 and exits 0', async () => {
    const idA = await createSession(server);
    const socketA = await open(idA);
    socketA.send({ type: 'execute', command: 'transfer 250 USD to alice' });
    a = { id: idA, request: await socketA.waitFor('approval_required') };

    const idB = await createSession(server);
    const socketB = await open(idB);
    socketB.send({ type: 'execute', command: 'pay twice', plan: PLAN });
    const first = await socketB.waitFor('approval_required');
    socketB.send({ type: 'approve', request_id: first.data.request_id });
    const second = await socketB.waitFor(
      (e) => e.type === 'approval_required' && e.data.request_id !== first.data.request_id,
    );
    b = { id: idB, request: second, seen: sessionEvents(socketB) };

    const [exit, closedA, closedB] = await Promise.all([
      server.stop(),
      socketA.closed,
      socketB.closed,
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect([closedA.code, closedB.code]).toEqual([1001, 1001]);
    server = await startServer(data);
  });

  it('pending approvals stay pending, with their expires_at, after the restart', async () => {
    for (const { id, request } of [a, b]) {
      const view = await getSessionView(server, id);
      expect(view.state).toBe('awaiting_approval');
      expect(view.pending_approvals).toEqual([
        expect.objectContaining({
          request_id: request.data.request_id,
          call_id: request.data.call_id,
          expires_at: request.data.expires_at,
        }),
      ]);
    }
    const pending = await http<{ approvals: { request_id: string; expires_at: string }[] }>(
      server,
      'GET',
      '/api/v1/approvals?status=pending',
    );
    expect(pending.body.approvals.map((p) => [p.request_id, Date.parse(p.expires_at)])).toEqual(
      expect.arrayContaining(
        [a, b].map(({ request }) => [
          String(request.data.request_id),
          Date.parse(String(request.data.expires_at)),
        ]),
      ),
    );
    const socket = await open(a.id);
    const connected = socket.events[0]!;
    expect(connected.data.pending_approvals).toEqual([
      expect.objectContaining({ request_id: a.request.data.request_id }),
    ]);
  });

  it('an approval after the restart, on a new socket, completes the flow; transfer ran once', async () => {
    const socket = await open(a.id);
    socket.send({ type: 'approve', request_id: a.request.data.request_id });
    const approved = await socket.waitFor('approved');
    expect(approved.data.request_id).toBe(a.request.data.request_id);
    const complete = await socket.waitFor('complete');
    expect(complete.state).toBe('complete');

    const log = await auditLog(server, a.id);
    const results = log.filter((e) => e.type === 'tool_result');
    expect(results).toHaveLength(1);
    expect(results[0]!.data).toMatchObject({
      call_id: a.request.data.call_id,
      tool: 'transfer',
      result: { to: 'alice', amount: 250 },
    });
    expect(log.filter((e) => e.type === 'approved')).toHaveLength(1);
    expect(log.map((e) => e.type)).toEqual([
      'thinking',
      'approval_required',
      'approved',
      'tool_call',
      'tool_result',
      'complete',
    ]);
  });

  it('reconnecting with last_seq from any point replays exactly the missing events', async () => {
    const before = await auditLog(server, b.id);
    // The restart re-emitted nothing: the log is what the first socket saw, unchanged.
    expect(before.map(withoutHashes)).toEqual(b.seen);
    const last = before.length;
    const points = [...new Set([0, 1, Math.floor(last / 2), last - 1, last])];
    const replays = new Map<number, TestSocket>();
    for (const point of points) {
      const socket = await open(b.id, point);
      if (point < last)
        await socket.waitFor((e) => e.seq === last && !['connected'].includes(e.type));
      expect(sessionEvents(socket).map((e) => e.seq)).toEqual(seqRange(point, last));
      replays.set(point, socket);
    }

    // Live from here: the second approval, given over REST, finishes the plan.
    const decided = await http(
      server,
      'POST',
      `/api/v1/approvals/${b.request.data.request_id}/approve`,
      {
        body: {},
      },
    );
    expect(decided.status).toBe(200);
    for (const socket of replays.values()) await socket.waitFor('complete');
    const after = await auditLog(server, b.id);
    expect(after.at(-1)?.type).toBe('complete');
    for (const [point, socket] of replays) {
      expect(sessionEvents(socket)).toEqual(after.slice(point).map(withoutHashes));
    }
    expect(after.filter((e) => e.type === 'tool_result').map((e) => String(e.data.tool))).toEqual([
      'transfer',
      'echo',
      'transfer',
    ]);
  });

  it('the store agrees: each transfer call has one outcome and one result, chains intact', async () => {
    const beforeStop = { a: await auditLog(server, a.id), b: await auditLog(server, b.id) };
    expect(await server.stop()).toEqual({ code: 0, signal: null });
    await withDirectDb(data, async ({ sql, store }) => {
      const outcomes = await sql.query(
        `SELECT session_id, call_id, status FROM tool_outcomes WHERE tool = 'transfer'
         ORDER BY created_at`,
      );
      const callsOf = (id: string) =>
        beforeStop[id === a.id ? 'a' : 'b']
          .filter((e) => e.type === 'tool_result' && e.data.tool === 'transfer')
          .map((e) => e.data.call_id as string);
      for (const id of [a.id, b.id]) {
        const rows = outcomes.filter((r) => r.session_id === id);
        expect(rows.map((r) => [r.call_id, r.status])).toEqual(
          callsOf(id).map((callId) => [callId, 'succeeded']),
        );
        expect(await store.verifyChain(id)).toMatchObject({ ok: true });
      }
      expect(callsOf(b.id)).toHaveLength(2);
    });
    // Requests made from now on expire in a second (for the expiry test below).
    server = await startServer(data, { APPROVAL_TTL_MS: '1000' });
  });

  it('after a second restart the whole log replays unchanged', async () => {
    const log = await auditLog(server, b.id);
    const socket = await open(b.id, 0);
    await socket.waitFor((e) => e.seq === log.length && e.type === 'complete');
    expect(sessionEvents(socket)).toEqual(log.map(withoutHashes));
  });

  it('an approval whose deadline passed while the server was down expires on restore', async () => {
    const id = await createSession(server);
    const socket = await open(id);
    socket.send({ type: 'execute', command: 'transfer 250 USD to bob' });
    const required = await socket.waitFor('approval_required');
    expect(await server.stop()).toEqual({ code: 0, signal: null });
    // The timer is not restored: only the absolute deadline in the snapshot can fire it.
    const left = Date.parse(String(required.data.expires_at)) - Date.now();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, left) + 50));

    server = await startServer(data);
    const again = await open(id, required.seq);
    const expired = await again.waitFor('approval_expired');
    expect(expired.data).toMatchObject({
      request_id: required.data.request_id,
      expires_at: required.data.expires_at,
    });
    await again.waitFor('complete');
    expect((await auditLog(server, id)).map((e) => e.type)).toEqual([
      'thinking',
      'approval_required',
      'approval_expired',
      'complete',
    ]);
    const approval = await http(server, 'GET', '/api/v1/approvals?status=expired');
    expect(approval.body.approvals).toEqual([
      expect.objectContaining({ request_id: required.data.request_id, decided_by: 'system' }),
    ]);
  });

  it.runIf(backend === 'pglite')(
    'a second process on the same data directory is refused, naming the directory',
    async () => {
      const second = runScript('src/main.ts', [], data);
      const exit = await second.exited;
      expect(exit.code).not.toBe(0);
      expect(exit.code).not.toBeNull();
      expect(second.output()).toContain(data.location);
      expect(second.output()).toMatch(/in use by process \d+/);
      // The first one is unharmed.
      const health = await http(server, 'GET', '/healthz');
      expect(health.status).toBe(200);
      expect((await getSessionView(server, a.id)).state).toBe('complete');
    },
  );
});
