/**
 * `npm run bench`: the real server in its own process, driven through full HITL flows by the
 * client SDK from worker processes; then idle session sockets and pings. Medians of runs.
 * Options: `npm run bench -- --help`.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readConfig, type BenchConfig } from './config.ts';
import { createSessions, flowRun, idleRun, pingRun, type FlowRun, type IdleRun } from './phases.ts';
import { fileLimit, machine, sampleProcess } from './proc-stats.ts';
import { summarizeProfile } from './profile-summary.ts';
import { formatBackend, formatTargets, type BackendResult } from './report.ts';
import { startServer, type Backend } from './server-process.ts';
import { medianOf } from './stats.ts';
import { startWorkers, type Worker } from './workers.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const PROFILE_DIR = join(ROOT, '.bench-profiles');

async function benchBackend(
  backend: Backend,
  config: BenchConfig,
  workers: Worker[],
): Promise<BackendResult> {
  const profileDir = config.profile ? join(PROFILE_DIR, `${backend}-${Date.now()}`) : undefined;
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const server = await startServer(backend, {
    profileDir,
    databaseUrl: config.databaseUrl,
    entry: config.serverEntry,
    syncCommit: config.syncCommit,
  });
  console.log(`\n${backend}: server pid ${server.pid} at ${server.url}`);
  try {
    const startRssMiB = (await sampleProcess(server.pid)).rss / 2 ** 20;
    // Warm-up (JIT, pools, caches): not reported.
    await flowRun(
      server,
      workers,
      Math.min(50, config.sessions[0] ?? 50),
      2_000,
      config.connectConcurrency,
    );

    const flows: BackendResult['flows'] = [];
    for (const sessions of config.sessions) {
      const runs: FlowRun[] = [];
      for (let run = 1; run <= config.runs; run += 1) {
        const result = await flowRun(
          server,
          workers,
          sessions,
          config.durationMs,
          config.connectConcurrency,
        );
        console.log(
          `  flows ${sessions} sessions, run ${run}: ${Math.round(result.flowsPerSec)} flows/s, ` +
            `p99 ${result.firstP99.toFixed(1)} / ${result.completeP99.toFixed(1)} ms`,
        );
        runs.push(result);
      }
      flows.push({ sessions, median: medianOf(runs), runs });
    }

    let idle: BackendResult['idle'] = null;
    const idleCount = await idleSocketCount(config);
    if (idleCount > 0) {
      await sleep(1_000);
      const before = await sampleProcess(server.pid);
      const ids = await createSessions(server.url, idleCount);
      await sleep(1_000);
      const bytesPerSession = ((await sampleProcess(server.pid)).rss - before.rss) / idleCount;
      const runs: IdleRun[] = [];
      for (let run = 1; run <= config.runs; run += 1) {
        const result = await idleRun(server, workers, ids, config.connectConcurrency);
        console.log(
          `  idle run ${run}: ${(result.bytesPerSocket / 1024).toFixed(1)} KiB/socket, ` +
            `${Math.round(result.connectPerSec)} connects/s`,
        );
        runs.push(result);
      }
      idle = { median: medianOf(runs), bytesPerSession, runs };
    }

    let ping: BackendResult['ping'] = null;
    if (config.pingMs > 0) {
      const [sessionId] = await createSessions(server.url, 1);
      const runs = [];
      for (let run = 1; run <= config.runs; run += 1) {
        runs.push(await pingRun(server, workers[0]!, sessionId!, config.pingMs, config.pingWindow));
      }
      ping = medianOf(runs);
    }
    return { backend, flows, idle, ping, startRssMiB };
  } finally {
    await server.stop();
    if (profileDir) await printProfile(profileDir);
  }
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

async function printProfile(dir: string): Promise<void> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  for (const file of files) {
    console.log(`\nCPU profile ${join(dir, file)}`);
    console.log(await summarizeProfile(join(dir, file)));
  }
}

async function main(): Promise<void> {
  const config = readConfig(process.argv.slice(2), process.env);
  console.log(`machine: ${await machine()}`);
  console.log(
    `config: backends ${config.backends.join(',')}; sessions ${config.sessions.join(',')}; ` +
      `${config.runs} runs of ${config.durationMs / 1000} s; ${config.idleSockets} idle sockets; ` +
      `${config.workers} worker processes`,
  );
  const workers = startWorkers(config.workers);
  const results: BackendResult[] = [];
  try {
    for (const backend of config.backends)
      results.push(await benchBackend(backend, config, workers));
  } finally {
    for (const worker of workers) worker.stop();
  }
  for (const result of results) console.log(formatBackend(result, config.runs));
  console.log(formatTargets(results));
  await writeFile(
    join(ROOT, '.bench-results.json'),
    JSON.stringify({ machine: await machine(), config, results }, null, 2),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
