/**
 * `npm run bench`: the real server in its own process, driven through full HITL flows by the
 * client SDK from worker processes; then idle session sockets and pings; then, on PostgreSQL,
 * the same closed-loop flows on a 3-node cluster and its kill -9 failover. Medians of runs.
 * Options: `npm run bench -- --help`.
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readConfig, type BenchConfig, type BenchTransport } from './config.ts';
import { createSessions } from './bench-sessions.ts';
import { clusterPhase, type ClusterResult } from './cluster-phase.ts';
import { clusterTargets, formatCluster } from './cluster-report.ts';
import { runFlowPhases } from './flow-phases.ts';
import { idleRun, oneServer, pingRun, type IdleRun, type PingRun } from './phases.ts';
import { longPlanRun, type LongPlanRun } from './long-plan.ts';
import { fileLimit, machine } from './proc-stats.ts';
import { summarizeProfile } from './profile-summary.ts';
import {
  formatBackend,
  formatTargets,
  formatTransports,
  phaseName,
  type BackendResult,
} from './report.ts';
import { prepareStorage, startServer, type Backend, type Storage } from './server-process.ts';
import { medianOf } from './stats.ts';
import { startWorkers, type Worker } from './workers.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const PROFILE_DIR = join(ROOT, '.bench-profiles');

async function benchBackend(
  backend: Backend,
  transport: BenchTransport,
  config: BenchConfig,
  workers: Worker[],
): Promise<BackendResult> {
  const storage = await prepareStorage(backend, config);
  const target = { storage, transport, label: `${backend}/${transport}` };
  try {
    const { flows, ping } = await flowsAndPings(target, config, workers);
    const idle = await idleSockets(target, config, workers);
    const longPlan = config.longPlanSteps > 0 ? await runLongPlan(storage, config) : null;
    return { backend: target.label, flows, idle, ping, longPlan };
  } finally {
    await storage.dispose();
  }
}

interface Target {
  storage: Storage;
  transport: BenchTransport;
  label: string;
}

/** One server for the flow phases and the pings (profiled when asked). */
async function flowsAndPings(
  { storage, transport, label }: Target,
  config: BenchConfig,
  workers: Worker[],
) {
  const profileDir = config.profile
    ? join(PROFILE_DIR, `${storage.backend}-${transport}-${Date.now()}`)
    : undefined;
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const server = await startServer(storage, { profileDir, entry: config.serverEntry, transport });
  console.log(`\n${label}: server pid ${server.pid} at ${server.url}`);
  try {
    const flows = await runFlowPhases(oneServer(server), config.phases, config, workers);
    let ping: PingRun | null = null;
    if (config.pingMs > 0) {
      const [sessionId] = await createSessions(server.url, 1);
      const runs: PingRun[] = [];
      for (let run = 1; run <= config.runs; run += 1) {
        runs.push(await pingRun(server, workers[0]!, sessionId!, config.pingMs, config.pingWindow));
      }
      ping = medianOf(runs);
    }
    return { flows, ping };
  } finally {
    await server.stop();
    if (profileDir) await printProfile(profileDir);
  }
}

/** A fresh server per run (RSS never shrinks back, so a second run on one would read low). */
async function idleSockets({ storage, transport }: Target, config: BenchConfig, workers: Worker[]) {
  const count = await idleSocketCount(config);
  if (count === 0) return null;
  const runs: IdleRun[] = [];
  for (let run = 1; run <= config.runs; run += 1) {
    const server = await startServer(storage, { entry: config.serverEntry, transport });
    try {
      const sessions = Math.min(count, config.idleSessions);
      const result = await idleRun(server, workers, count, sessions, config.connectConcurrency);
      console.log(
        `  idle, run ${run}: ${(result.bytesPerSocket / 1024).toFixed(1)} KiB/socket, ` +
          `${(result.bytesPerSession / 1024).toFixed(1)} KiB/session`,
      );
      runs.push(result);
    } finally {
      await server.stop();
    }
  }
  return { median: medianOf(runs), runs };
}

/** One long execution, after the server processes stopped (the storage is free again). */
async function runLongPlan(storage: Storage, config: BenchConfig): Promise<LongPlanRun> {
  const result = await longPlanRun(storage, config.longPlanSteps);
  console.log(
    `  ${result.steps}-step execution: ${result.firstBytesPerEvent.toFixed(0)} B/event at its ` +
      `start, ${result.lastBytesPerEvent.toFixed(0)} B/event at its end, ` +
      `${result.totalMiB.toFixed(1)} MiB in all, ${result.stepsPerSec.toFixed(0)} steps/s`,
  );
  return result;
}

/** The idle socket count, lowered when the open-files limit cannot hold it. */
async function idleSocketCount(config: BenchConfig): Promise<number> {
  const limit = await fileLimit();
  const room = limit - 500;
  if (config.idleSockets <= room) return config.idleSockets;
  console.warn(
    `  open-files limit is ${limit}: idle sockets lowered to ${room} (raise it with ulimit -n)`,
  );
  return Math.max(0, room);
}

/** The main thread's profile: the largest file (the others are loader threads). */
async function printProfile(dir: string): Promise<void> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  const sizes = await Promise.all(files.map(async (f) => (await stat(join(dir, f))).size));
  const main = files[sizes.indexOf(Math.max(...sizes))];
  if (!main) return;
  console.log(`\nCPU profile of the server (main thread): ${join(dir, main)}`);
  console.log(await summarizeProfile(join(dir, main)));
}

async function main(): Promise<void> {
  const config = readConfig(process.argv.slice(2), process.env);
  console.log(`machine: ${await machine()}`);
  console.log(
    `config: backends ${config.backends.join(',')}; transports ${config.transports.join(',')}; flows ${config.phases.map(phaseName).join(', ')}; ` +
      `${config.runs} runs of ${config.durationMs / 1000} s; ${config.idleSockets} idle sockets; ` +
      `${config.workers} worker processes; cluster phase ${config.cluster ? 'on' : 'off'}`,
  );
  const workers = startWorkers(config.workers);
  const results: BackendResult[] = [];
  let cluster: ClusterResult | null = null;
  try {
    for (const backend of config.backends)
      for (const transport of config.transports)
        results.push(await benchBackend(backend, transport, config, workers));
    if (config.cluster) cluster = await clusterPhase(config, workers, results);
  } finally {
    for (const worker of workers) worker.stop();
  }
  for (const result of results) console.log(formatBackend(result, config.runs));
  if (cluster) console.log(formatCluster(cluster, config.runs));
  console.log(formatTransports(results));
  console.log(formatTargets(results, cluster ? clusterTargets(cluster) : []));
  await writeFile(
    join(ROOT, '.bench-results.json'),
    JSON.stringify({ machine: await machine(), config, results, cluster }, null, 2),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
