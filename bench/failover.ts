import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { connectSession } from '../src/client/index.ts';
import { createSessions, transferPlan } from './bench-sessions.ts';
import { nodeId, type BenchCluster } from './cluster-nodes.ts';
import { pool } from './pool.ts';
import { percentile } from './stats.ts';

/** Give up on a run after this long: a failover that slow is a failure, not a figure. */
const GIVE_UP_MS = 60_000;
const POLL_MS = 10;

export interface FailoverRun extends Record<string, number> {
  sessions: number;
  /** kill -9 until no active session of the victim has owner_node = the victim. */
  claimedMs: number;
  /** kill -9 until the last approval over REST on another node was accepted (200). */
  approvedMs: number;
  /** kill -9 until a session's `complete` reached its client on another node: p50, last. */
  completeP50Ms: number;
  completeMaxMs: number;
  /** Sessions that did not complete within GIVE_UP_MS. */
  failures: number;
}

/** A run's figures, and the refused approve answers before each was accepted, by code. */
export interface FailoverOutcome {
  run: FailoverRun;
  refused: Map<string, number>;
}

/**
 * With every node up: `count` sessions created on node 0 and brought to awaiting_approval
 * there, each followed by an SDK client on node 1 or 2. Then node 0 is killed (SIGKILL) and
 * every request is approved over REST on node 1 at once; times are from the signal. Node 0
 * stays down: the caller starts it again.
 */
export async function failoverRun(
  cluster: BenchCluster,
  databaseUrl: string,
  count: number,
  concurrency: number,
): Promise<FailoverOutcome> {
  const [victim, rescuer] = cluster.nodes;
  if (!victim || !rescuer) throw new Error('failover needs two nodes at least');
  const others = cluster.nodes.slice(1);
  const sessionIds = await createSessions(victim.url, count, concurrency);
  const requestIds = await pool(count, concurrency, (i) =>
    awaitingApproval(victim.url, sessionIds[i]!),
  );
  const watchers = await pool(count, concurrency, (i) =>
    connectSession({
      url: others[i % others.length]!.url,
      sessionId: sessionIds[i]!,
      timeoutMs: GIVE_UP_MS,
      reconnect: { initialMs: 50, maxMs: 500, maxAttempts: Infinity },
    }),
  );
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const refused = new Map<string, number>();
  try {
    const killedAt = performance.now();
    const since = () => performance.now() - killedAt;
    const completes = watchers.map((client) =>
      client.waitFor('complete', undefined, { since: client.lastSeq }).then(since, () => NaN),
    );
    await victim.kill();
    const [claimedMs, approved, completeMs] = await Promise.all([
      untilClaimed(sql, sessionIds, nodeId(0)).then(since),
      Promise.all(requestIds.map((id) => approve(rescuer.url, id, refused).then(since))),
      Promise.all(completes),
    ]);
    const done = completeMs.filter(Number.isFinite);
    const run = {
      sessions: count,
      claimedMs,
      approvedMs: Math.max(...approved),
      completeP50Ms: percentile(done, 50),
      completeMaxMs: done.length === count ? Math.max(...done) : NaN,
      failures: count - done.length,
    };
    return { run, refused };
  } finally {
    await Promise.all(watchers.map((client) => client.close()));
    await sql.end({ timeout: 5 });
  }
}

/** Executes a transfer on `url` and waits for its approval request; the request id. */
async function awaitingApproval(url: string, sessionId: string): Promise<string> {
  const client = await connectSession({ url, sessionId, timeoutMs: GIVE_UP_MS, reconnect: false });
  try {
    const required = client.waitFor('approval_required');
    await client.execute('pay', transferPlan(true));
    return (await required).data.request_id;
  } finally {
    await client.close();
  }
}

/** Until none of the sessions is active and owned by `node` (polled every POLL_MS). */
async function untilClaimed(sql: postgres.Sql, sessionIds: string[], node: string) {
  const deadline = Date.now() + GIVE_UP_MS;
  for (;;) {
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from sessions
      where id = any(${sessionIds}) and owner_node = ${node}
        and state not in ('idle', 'complete', 'cancelled', 'failed')`;
    if (row?.n === 0) return;
    if (Date.now() > deadline) throw new Error(`${row?.n} sessions still owned by ${node}`);
    await sleep(POLL_MS);
  }
}

/** POST approve until it is accepted: while the owner is dead and unclaimed it may be refused. */
async function approve(url: string, requestId: string, refused: Map<string, number>) {
  const deadline = Date.now() + GIVE_UP_MS;
  for (;;) {
    const response = await fetch(`${url}/api/v1/approvals/${requestId}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const body = await response.text();
    if (response.status === 200) return;
    const code = /"code":"([a-z_]+)"/.exec(body)?.[1] ?? 'no code';
    const key = `${response.status} ${code}`;
    refused.set(key, (refused.get(key) ?? 0) + 1);
    if (Date.now() > deadline) throw new Error(`approve ${requestId}: ${response.status} ${body}`);
    await sleep(POLL_MS);
  }
}
