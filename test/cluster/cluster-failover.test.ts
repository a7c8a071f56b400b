import { afterEach, describe, expect, it } from 'vitest';
import { connectSession, type OutboundEvent, type SessionClient } from '../../src/client/index.ts';
import { withDirectDb } from '../durability/durable-data.ts';
import { auditLog } from '../durability/wire.ts';
import { createSession, http } from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import { clusterMissing, startTestCluster, type TestCluster } from './cluster-harness.ts';

const missing = clusterMissing();
if (missing) console.log(`skipped: ${missing}`);

const SESSIONS = 100;
const LEASE_MS = 2_000;

/** One SDK client playing requester and approver of its session, flow after flow. */
interface Flowing {
  sessionId: string;
  client: SessionClient;
  seen: OutboundEvent[];
  acked: Set<string>;
  completed: number;
  problems: string[];
}

describe.skipIf(missing !== null)('cluster: a node dies and the others take over', () => {
  let cluster: TestCluster | undefined;
  const clients: SessionClient[] = [];
  const watching: TestSocket[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(watching.splice(0).map((s) => s.close()));
    await cluster?.dispose();
    cluster = undefined;
  });

  it(`kill -9 of an owner during ${SESSIONS} concurrent flows: every session goes on elsewhere, nothing lost or repeated`, async () => {
    // The default lease: a kill is found by the advisory lock, at once, whatever the lease; a
    // short one would only fence a node that a loaded machine kept from its heartbeat.
    const c = (cluster = await startTestCluster(3));
    // Sessions are created (so owned) round the nodes; each client talks to the next node.
    const flows: Flowing[] = [];
    for (let i = 0; i < SESSIONS; i += 1) {
      const sessionId = await createSession(c.nodes[i % 3]!);
      flows.push({
        sessionId,
        client: undefined!,
        seen: [],
        acked: new Set(),
        completed: 0,
        problems: [],
      });
    }
    let stopping = false;
    await Promise.all(
      flows.map(async (flow, i) => {
        let pick = (i + 1) % 3;
        const open = () =>
          connectSession({
            // After a node dies the client reconnects to one that runs.
            url: () => {
              const running = c.running();
              const node = running.includes(c.nodes[pick]!)
                ? c.nodes[pick]!
                : running[i % running.length]!;
              pick = c.nodes.indexOf(node);
              return node.url;
            },
            sessionId: flow.sessionId,
            reconnect: { initialMs: 50, maxMs: 500, maxAttempts: Infinity },
            timeoutMs: 20_000,
          });
        // Setup, before the kill: a first connect closed with 1006 was seen about once in 20
        // runs on a loaded machine, cause not found yet. It is said, with what the nodes
        // logged, and tried once more; the scenario itself stays strict.
        const client = await open().catch((error: unknown) => {
          const logs = c.nodes.map((n) => `${n.nodeId}:\n${n.output().slice(-3_000)}`);
          console.log(
            `first connect refused (${String(error)}) on ${c.nodes[pick]!.nodeId}; again\n${logs.join('\n')}`,
          );
          return open();
        });
        clients.push(client);
        flow.client = client;
        client.onAny((event) => {
          // Replies have no place in the stream; a stored `error` does (tool_outcome_unknown
          // after a takeover in the middle of a transfer).
          if (event.type === 'connected' || event.type === 'pong') return;
          if (event.type === 'message_delta') return;
          if (event.type === 'error' && event.data.id !== undefined) return;
          flow.seen.push(event);
        });
        client.on('approval_required', (event) => {
          const requestId = event.data.request_id;
          client.approve(requestId).then(
            () => flow.acked.add(requestId),
            (error: unknown) => flow.problems.push(`approve ${requestId}: ${String(error)}`),
          );
        });
      }),
    );
    const run = flows.map(async (flow) => {
      while (!stopping) {
        try {
          await flow.client.execute('transfer 500 USD to bob');
          await flow.client.waitFor('complete', undefined, 20_000);
          flow.completed += 1;
        } catch {
          // Refused mid-takeover (owner_unreachable, not_allowed_in_state after a resume): go on.
          await new Promise((r) => setTimeout(r, 100));
          if (flow.client.state !== 'idle' && flow.client.state !== 'complete') {
            await flow.client.waitFor('complete', undefined, 20_000).catch(() => undefined);
          }
        }
      }
    });

    await until(
      () => flows.every((f) => f.completed >= 1),
      60_000,
      'a first flow in every session',
    );
    // The victim: the node that owns the most sessions in the middle of a flow right now.
    let victim = c.nodes[0]!;
    let owned: string[] = [];
    await until(
      async () => {
        for (const node of c.nodes) {
          const ids = await ownedBy(c, node.nodeId);
          if (ids.length > owned.length) [victim, owned] = [node, ids];
        }
        return owned.length > 0;
      },
      10_000,
      'a node owning a session in the middle of a flow',
    );
    const survivors = c.nodes.filter((n) => n !== victim);
    // Raw sockets on both survivors for each of the victim's sessions: the node that takes a
    // session over keeps these on its view of the session as it was followed, next to the new
    // host's sockets. Every frame counts here (the SDK would hide a duplicate).
    const watchers = await Promise.all(
      owned.flatMap((sessionId) =>
        survivors.map(async (node) => {
          const socket = await connect(node, { session_id: sessionId });
          await socket.waitFor('connected');
          watching.push(socket);
          return { sessionId, node: node.nodeId, socket };
        }),
      ),
    );
    const killedAt = Date.now();
    await victim.kill();
    await until(
      async () => (await ownedBy(c, victim.nodeId)).length === 0,
      20_000,
      'the dead node sessions claimed',
    );
    const claimedMs = Date.now() - killedAt;
    // And one on each session's new owner, on its new host, next to the view it followed. A
    // session that ended before the kill is still the dead node's (taken when next used): the
    // socket places it on the first survivor.
    for (const sessionId of owned) {
      const { owner_node } = await c.ownership(sessionId);
      const node = c.running().find((n) => n.nodeId === owner_node) ?? survivors[0]!;
      const socket = await connect(node, { session_id: sessionId });
      await socket.waitFor('connected');
      watching.push(socket);
      watchers.push({ sessionId, node: `${node.nodeId} (new owner)`, socket });
    }
    const before = new Map(flows.map((f) => [f.sessionId, f.completed]));
    await until(
      () => flows.every((f) => f.completed > before.get(f.sessionId)!),
      60_000,
      'a flow after the kill in every session',
    );
    const servingMs = Date.now() - killedAt;
    console.log(
      `takeover after kill -9: ${owned.length} sessions of ${victim.nodeId} claimed in ${claimedMs} ms, every session completed a flow again within ${servingMs} ms`,
    );
    stopping = true;
    await Promise.all(run);

    for (const flow of flows) {
      const log = await auditLog(c.running()[0]!, flow.sessionId);
      const seqs = flow.seen.map((e) => e.seq);
      expect(seqs.join(','), `${flow.sessionId}: seqs seen`).toBe(
        log
          .map((_, i) => i + 1)
          .slice(0, seqs.length)
          .join(','),
      );
      expect(new Set(seqs).size, `${flow.sessionId}: no duplicate`).toBe(seqs.length);
      expect(flow.problems).toEqual([]);
      const approved = new Set(
        log.filter((e) => e.type === 'approved').map((e) => String(e.data.request_id)),
      );
      for (const requestId of flow.acked) expect(approved.has(requestId), requestId).toBe(true);
      // A transfer runs at most once per call: one start, at most one outcome.
      const calls = log.filter((e) => e.type === 'tool_call').map((e) => String(e.data.call_id));
      expect(new Set(calls).size).toBe(calls.length);
      const results = log
        .filter((e) => e.type === 'tool_result')
        .map((e) => String(e.data.call_id));
      expect(new Set(results).size).toBe(results.length);
    }
    for (const { sessionId, node, socket } of watchers) {
      const log = await auditLog(c.running()[0]!, sessionId);
      const seqs = socket.events.filter(isStored).map((e) => e.seq);
      const from = socket.events[0]!.seq; // `connected`: its last_seq
      expect(seqs.join(','), `${sessionId} on ${node}: every frame once, in order`).toBe(
        log
          .slice(from, from + seqs.length)
          .map((e) => e.seq)
          .join(','),
      );
    }
    const verified = await c.verifyAll();
    expect(verified.code, verified.output).toBe(0);
  }, 240_000);

  it('SIGSTOP of an owner past its lease: another node takes over, and after SIGCONT the old owner writes nothing and lets go', async () => {
    const c = (cluster = await startTestCluster(2, { CLUSTER_LEASE_MS: String(LEASE_MS) }));
    const [frozen, other] = [c.nodes[0]!, c.nodes[1]!];
    const sessionId = await createSession(frozen);
    const requester = await connect(frozen, { session_id: sessionId });
    await requester.waitFor('connected');
    requester.send({ type: 'execute', command: 'transfer 750 USD to dave' });
    const required = await requester.waitFor('approval_required', { timeoutMs: 10_000 });
    const requestId = String(required.data.request_id);

    frozen.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    // While it is frozen the kernel keeps this socket's frames: a cancel waits for SIGCONT.
    requester.send({ type: 'cancel', id: 'cancel-after-freeze' });
    // The other node takes it once the lease has run out, and applies the approval.
    const decided = await http<{ status: string }>(
      other,
      'POST',
      `/api/v1/approvals/${requestId}/approve`,
      { body: {} },
    );
    const tookMs = Date.now() - stoppedAt;
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    expect(tookMs).toBeGreaterThanOrEqual(LEASE_MS);
    console.log(
      `takeover of a frozen owner (lease ${LEASE_MS} ms): approval applied after ${tookMs} ms`,
    );
    expect(await c.ownership(sessionId)).toEqual({ owner_node: 'node-1', owner_epoch: 2 });
    await until(
      async () => (await auditLog(other, sessionId)).some((e) => e.type === 'complete'),
      15_000,
      'the transfer completed on the new owner',
    );
    const settled = await auditLog(other, sessionId);

    frozen.child.kill('SIGCONT');
    // Its socket is closed (resume elsewhere) or its cancel refused; either way nothing of it
    // is stored: the log and the ownership stay as the new owner left them.
    await Promise.race([
      requester.closed,
      requester.waitFor((e) => e.type === 'error' && e.data.id === 'cancel-after-freeze', {
        timeoutMs: 10_000,
      }),
    ]);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await auditLog(other, sessionId)).toEqual(settled);
    expect(settled.some((e) => e.type === 'cancelled')).toBe(false);
    expect(await c.ownership(sessionId)).toEqual({ owner_node: 'node-1', owner_epoch: 2 });
    expect(frozen.output()).toMatch(/lease lost|session moved to another node/);
    const verified = await c.verifyAll();
    expect(verified.code, verified.output).toBe(0);
  }, 90_000);
});

async function ownedBy(c: TestCluster, nodeId: string): Promise<string[]> {
  return withDirectDb(c.data, async (db) => {
    const rows = await db.sql.query(
      `SELECT id FROM sessions WHERE owner_node = $1 AND state NOT IN ('idle', 'complete', 'cancelled', 'failed')`,
      [nodeId],
    );
    return rows.map((r) => String(r.id));
  });
}

async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A stored event, not a reply to this socket (which carries the last seq, not its own). */
function isStored(event: WireEvent): boolean {
  if (event.type === 'connected' || event.type === 'pong' || event.type === 'message_delta')
    return false;
  return !(event.type === 'error' && event.data.id !== undefined);
}
