import { setTimeout as sleep } from 'node:timers/promises';
import { createSessions } from './bench-sessions.ts';
import type { FlowPhase } from './config.ts';
import { sampleProcess } from './proc-stats.ts';
import type { BenchServer } from './server-process.ts';
import { percentile, quantiles } from './stats.ts';
import type { Worker } from './workers.ts';

export interface FlowRun extends Record<string, number> {
  flowsPerSec: number;
  eventsPerSec: number;
  connectP50: number;
  connectP95: number;
  firstP50: number;
  firstP95: number;
  firstP99: number;
  completeP50: number;
  completeP95: number;
  completeP99: number;
  serverCpuPerFlow: number;
  dbCpuPerFlow: number;
  /** Database transactions per flow (NaN where they cannot be read: PGlite). */
  transactionsPerFlow: number;
  clientCpuPerFlow: number;
  serverCpuShare: number;
  rssMiB: number;
  flows: number;
  failures: number;
}

/** `total` split as evenly as possible over `parts`. */
export function split(total: number, parts: number): number[] {
  return Array.from(
    { length: parts },
    (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0),
  );
}

/**
 * Where a flow phase runs: one server, or the nodes of a cluster on one database. Session k
 * is created on server k % n and its socket opened on server (k + connectOffset) % n.
 */
export interface FlowTarget {
  servers: readonly BenchServer[];
  connectOffset: number;
}

export const oneServer = (server: BenchServer): FlowTarget => ({
  servers: [server],
  connectOffset: 0,
});

/** CPU and RSS of every server process, summed. */
async function sampleServers(servers: readonly BenchServer[]) {
  const samples = await Promise.all(servers.map((server) => sampleProcess(server.pid)));
  return {
    cpuMs: sum(samples.map((s) => s.cpuMs)),
    rss: sum(samples.map((s) => s.rss)),
  };
}

/**
 * N sessions connected first (timed), then all of them run HITL flows back to back for the
 * duration; the servers' CPU and the database backends' CPU are read around the flow window.
 */
export async function flowRun(
  { servers, connectOffset }: FlowTarget,
  workers: Worker[],
  phase: FlowPhase,
  durationMs: number,
  connectConcurrency: number,
): Promise<FlowRun> {
  const { sessions } = phase;
  const thinkMs = phase.rate === null ? 0 : (1000 * sessions) / phase.rate;
  const shares = split(sessions, workers.length);
  const urls = servers.map((server) => server.url);
  // They share one storage: its database figures are read once, through any of them.
  const storage = servers[0]!;
  const ready = await Promise.all(
    workers.map((worker, i) =>
      shares[i]! > 0
        ? worker.request(
            {
              kind: 'flows-setup',
              urls,
              connectOffset,
              sessions: shares[i]!,
              connectConcurrency,
            },
            'ready',
          )
        : Promise.resolve({ kind: 'ready' as const, connectMs: [] }),
    ),
  );
  const connectMs = ready.flatMap((r) => r.connectMs);
  const transactionsBefore = await storage.transactions();
  const before = await sampleServers(servers);
  const dbBefore = await storage.databaseCpuMs();
  const started = performance.now();
  const deadline = Date.now() + durationMs;
  const done = await Promise.all(
    workers.map((worker, i) =>
      shares[i]! > 0
        ? worker.request({ kind: 'flows-go', deadline, thinkMs }, 'flows-done')
        : Promise.resolve(null),
    ),
  );
  const wallMs = performance.now() - started;
  const after = await sampleServers(servers);
  const dbAfter = await storage.databaseCpuMs();
  const transactionsAfter = await storage.transactions();
  await Promise.all(workers.map((worker) => worker.request({ kind: 'release' }, 'released')));

  const results = done.filter((d) => d !== null);
  const flows = sum(results.map((r) => r.flows));
  const events = sum(results.map((r) => r.events));
  const failures = sum(results.map((r) => r.failures));
  const firstError = results.find((r) => r.firstError)?.firstError;
  if (firstError) console.warn(`  ${failures} sessions failed; first: ${firstError}`);
  const first = quantiles(results.flatMap((r) => r.executeToFirst));
  const complete = quantiles(results.flatMap((r) => r.approveToComplete));
  const serverCpu = after.cpuMs - before.cpuMs;
  return {
    flowsPerSec: flows / (wallMs / 1000),
    eventsPerSec: events / (wallMs / 1000),
    connectP50: percentile(connectMs, 50),
    connectP95: percentile(connectMs, 95),
    firstP50: first.p50,
    firstP95: first.p95,
    firstP99: first.p99,
    completeP50: complete.p50,
    completeP95: complete.p95,
    completeP99: complete.p99,
    serverCpuPerFlow: serverCpu / flows,
    dbCpuPerFlow: (dbAfter - dbBefore) / flows,
    transactionsPerFlow: (transactionsAfter - transactionsBefore) / flows,
    clientCpuPerFlow: sum(results.map((r) => r.clientCpuMs)) / flows,
    serverCpuShare: serverCpu / wallMs,
    rssMiB: after.rss / 2 ** 20,
    flows,
    failures,
  };
}

export interface IdleRun extends Record<string, number> {
  sockets: number;
  sessions: number;
  sessionsPerSec: number;
  connectPerSec: number;
  connectP50: number;
  connectP95: number;
  bytesPerSession: number;
  bytesPerSocket: number;
  rssMiB: number;
}

/**
 * On a fresh server: `sessions` sessions created (each an actor in memory), then `count`
 * sockets spread over them that stay open doing nothing. RSS is read before, between, after.
 */
export async function idleRun(
  server: BenchServer,
  workers: Worker[],
  count: number,
  sessions: number,
  connectConcurrency: number,
): Promise<IdleRun> {
  await sleep(1_000);
  const empty = await sampleProcess(server.pid);
  const created = performance.now();
  const sessionSet = await createSessions(server.url, sessions);
  const createMs = performance.now() - created;
  const sessionIds = Array.from({ length: count }, (_, i) => sessionSet[i % sessions]!);
  await sleep(1_000);
  const before = await sampleProcess(server.pid);
  const shares = split(count, workers.length);
  let offset = 0;
  const started = performance.now();
  const ready = await Promise.all(
    workers.map((worker, i) => {
      const ids = sessionIds.slice(offset, (offset += shares[i]!));
      return worker.request(
        { kind: 'idle-connect', url: server.url, sessionIds: ids, connectConcurrency },
        'ready',
      );
    }),
  );
  const connectWallMs = performance.now() - started;
  await sleep(2_000);
  const after = await sampleProcess(server.pid);
  await Promise.all(workers.map((worker) => worker.request({ kind: 'release' }, 'released')));
  const connectMs = ready.flatMap((r) => r.connectMs);
  return {
    sockets: count,
    sessions,
    sessionsPerSec: sessions / (createMs / 1000),
    connectPerSec: count / (connectWallMs / 1000),
    connectP50: percentile(connectMs, 50),
    connectP95: percentile(connectMs, 95),
    bytesPerSession: (before.rss - empty.rss) / sessions,
    bytesPerSocket: (after.rss - before.rss) / count,
    rssMiB: after.rss / 2 ** 20,
  };
}

export interface PingRun extends Record<string, number> {
  pipelinedPerSec: number;
  sequentialPerSec: number;
  rttP50: number;
  rttP99: number;
}

/** Pings on one connection: one at a time (round trips), then `window` in flight. */
export async function pingRun(
  server: BenchServer,
  worker: Worker,
  sessionId: string,
  durationMs: number,
  window: number,
): Promise<PingRun> {
  const ping = (w: number) =>
    worker.request(
      { kind: 'ping', url: server.url, sessionId, durationMs, window: w },
      'ping-done',
    );
  const sequential = await ping(1);
  const pipelined = await ping(window);
  return {
    pipelinedPerSec: pipelined.pings / (pipelined.elapsedMs / 1000),
    sequentialPerSec: sequential.pings / (sequential.elapsedMs / 1000),
    rttP50: percentile(sequential.rttMs, 50),
    rttP99: percentile(sequential.rttMs, 99),
  };
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
