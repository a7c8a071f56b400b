import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSession, http } from '../support/test-app.ts';
import { connect, type TestSocket } from '../support/ws-client.ts';
import { auditLog, sessionEvents, withoutHashes } from '../durability/wire.ts';
import { clusterMissing, startTestCluster, type TestCluster } from './cluster-harness.ts';

const missing = clusterMissing();
if (missing) console.log(`skipped: ${missing}`);

/**
 * Three server processes on one PostgreSQL schema and a nats-server of the test's own: a
 * session is owned by one node, and a socket or REST call on any node reaches it.
 */
describe.skipIf(missing !== null)('cluster: routing and fan-out over three nodes', () => {
  let cluster: TestCluster;
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    cluster = await startTestCluster(3);
  }, 90_000);
  afterAll(async () => {
    for (const socket of sockets) socket.ws.terminate();
    await cluster?.dispose();
  });

  async function open(node: number, sessionId: string, lastSeq?: number): Promise<TestSocket> {
    const target = cluster.nodes[node]!;
    const socket = await connect(target, {
      session_id: sessionId,
      ...(lastSeq === undefined ? {} : { last_seq: lastSeq }),
    });
    sockets.push(socket);
    await socket.waitFor('connected');
    return socket;
  }

  it('gives a requester on node 1 and an approver on node 2 the same stream; the approval counts once', async () => {
    const sessionId = await createSession(cluster.nodes[0]!);
    expect(await cluster.ownership(sessionId)).toEqual({ owner_node: 'node-0', owner_epoch: 1 });
    const requester = await open(1, sessionId);
    const approver = await open(2, sessionId);

    requester.send({ type: 'execute', command: 'transfer 250 USD to alice', id: 'exec-1' });
    const required = await approver.waitFor('approval_required', { timeoutMs: 10_000 });
    await requester.waitFor('approval_required', { timeoutMs: 10_000 });
    const requestId = String(required.data.request_id);
    approver.send({ type: 'approve', request_id: requestId, id: 'approve-1' });
    await requester.waitFor('complete', { timeoutMs: 10_000 });
    await approver.waitFor('complete', { timeoutMs: 10_000 });
    // A second approval of the same request, from the third node, is refused.
    const late = await http(cluster.nodes[0]!, 'POST', `/api/v1/approvals/${requestId}/approve`, {
      body: {},
    });
    expect(late.status).toBe(409);

    const log = await auditLog(cluster.nodes[2]!, sessionId);
    expect(sessionEvents(requester)).toEqual(log.map(withoutHashes));
    expect(sessionEvents(approver)).toEqual(log.map(withoutHashes));
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    expect(log.filter((e) => e.type === 'approved')).toHaveLength(1);
    expect(log.filter((e) => e.type === 'tool_result')).toHaveLength(1);
    // The session never left the node it was created on.
    expect(await cluster.ownership(sessionId)).toEqual({ owner_node: 'node-0', owner_epoch: 1 });
    const verified = await cluster.verifyAll();
    expect(verified.code, verified.output).toBe(0);
  });

  it('answers REST reads and decisions of a session owned elsewhere on any node', async () => {
    const sessionId = await createSession(cluster.nodes[1]!);
    const owner = await open(1, sessionId);
    owner.send({ type: 'execute', command: 'transfer 400 USD to bob' });
    const required = await owner.waitFor('approval_required', { timeoutMs: 10_000 });
    const view = await http<{ state: string; pending_approvals: { request_id: string }[] }>(
      cluster.nodes[2]!,
      'GET',
      `/api/v1/sessions/${sessionId}`,
    );
    expect(view.status).toBe(200);
    expect(view.body.state).toBe('awaiting_approval');
    expect(view.body.pending_approvals.map((p) => p.request_id)).toEqual([
      required.data.request_id,
    ]);
    const decided = await http<{ status: string }>(
      cluster.nodes[0]!,
      'POST',
      `/api/v1/approvals/${String(required.data.request_id)}/approve`,
      { body: {} },
    );
    expect(decided.status).toBe(200);
    expect(decided.body.status).toBe('approved');
    await owner.waitFor('complete', { timeoutMs: 10_000 });
  });

  it('places a session nobody owns on exactly one node when three race for it; its epoch rises by one', async () => {
    // A fourth node creates the session and stops cleanly: the session is left without a
    // live owner, and the three others are asked for it at the same instant.
    const extra = await cluster.start(3);
    const sessionId = await createSession(extra);
    await extra.stop();
    const before = await cluster.ownership(sessionId);
    expect(before).toEqual({ owner_node: 'node-3', owner_epoch: 1 });
    const answers = await Promise.all(
      [0, 1, 2].map((i) => http(cluster.nodes[i]!, 'GET', `/api/v1/sessions/${sessionId}`)),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    const after = await cluster.ownership(sessionId);
    expect(after.owner_epoch).toBe(2);
    expect(['node-0', 'node-1', 'node-2']).toContain(after.owner_node);
  });

  it('fails a forwarded command fast while NATS is down, and the stream catches up with no gap after', async () => {
    const sessionId = await createSession(cluster.nodes[0]!);
    const watcher = await open(1, sessionId);
    const owner = await open(0, sessionId);
    owner.send({ type: 'execute', command: 'transfer 300 USD to carol' });
    await watcher.waitFor('approval_required', { timeoutMs: 10_000 });

    await cluster.nats.stop();
    const asked = Date.now();
    const from = watcher.events.length;
    watcher.send({ type: 'ping', id: 'p' });
    await watcher.waitFor('pong', { from });
    watcher.send({ type: 'cancel', id: 'cancel-while-down' });
    const refused = await watcher.waitFor(
      (e) => e.type === 'error' && e.data.id === 'cancel-while-down',
      { from, timeoutMs: 5_000 },
    );
    expect(Date.now() - asked).toBeLessThan(2_000);
    expect(refused.data.code).toBe('cluster_unavailable');
    expect(refused.data.message).toMatch(/NATS/);

    // The owner goes on without NATS: its own socket approves, and the transfer runs.
    const required = owner.events.find((e) => e.type === 'approval_required')!;
    owner.send({ type: 'approve', request_id: required.data.request_id });
    await owner.waitFor('complete', { timeoutMs: 10_000 });

    await cluster.nats.restart();
    await watcher.waitFor('complete', { timeoutMs: 15_000 });
    // Back on NATS, each node says so on /readyz.
    for (const node of cluster.nodes.slice(0, 3)) {
      await vi.waitFor(async () => expect((await http(node, 'GET', '/readyz')).status).toBe(200), {
        timeout: 10_000,
        interval: 100,
      });
    }
    const log = await auditLog(cluster.nodes[2]!, sessionId);
    const stored = sessionEvents(watcher).filter((e) => !(e.type === 'error' && e.data.id));
    expect(stored).toEqual(log.map(withoutHashes));
  });
});
