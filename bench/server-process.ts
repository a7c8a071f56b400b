import { UNLIMITED } from '../test/support/test-app.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMs } from './proc-stats.ts';

/** How long PostgreSQL's backends may keep their statistics before reporting them. */
const STATS_DELAY_MS = 1_200;

export type Backend = 'pglite' | 'postgres';

/** Where the server keeps its data: a PGlite directory or a PostgreSQL database of its own. */
export interface Storage {
  backend: Backend;
  env: { DATA_DIR: string; DATABASE_URL: string };
  /** CPU ms used so far by the PostgreSQL backends serving this database (0 on PGlite). */
  databaseCpuMs(): Promise<number>;
  /** Transactions committed or rolled back in this database so far (NaN on PGlite). */
  transactions(): Promise<number>;
  dispose(): Promise<void>;
}

export interface BenchServer {
  backend: Backend;
  pid: number;
  url: string;
  databaseCpuMs(): Promise<number>;
  transactions(): Promise<number>;
  /** Stops the process (the storage stays, for the next server). */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
}

const ROOT = new URL('..', import.meta.url).pathname;

/** A fresh PGlite data directory, or a fresh PostgreSQL database next to DATABASE_URL's. */
export async function prepareStorage(
  backend: Backend,
  options: { databaseUrl?: string | undefined; syncCommit: 'on' | 'off' },
): Promise<Storage> {
  if (backend === 'postgres') {
    const database = await createDatabase(options.databaseUrl, options.syncCommit);
    return {
      backend,
      env: { DATA_DIR: 'memory://', DATABASE_URL: database.url },
      databaseCpuMs: () => database.backendCpuMs(),
      transactions: () => database.transactions(),
      dispose: () => database.drop(),
    };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'hitl-bench-'));
  return {
    backend,
    env: { DATA_DIR: dataDir, DATABASE_URL: '' },
    databaseCpuMs: () => Promise.resolve(0),
    transactions: () => Promise.resolve(NaN),
    dispose: () => rm(dataDir, { recursive: true, force: true }),
  };
}

/**
 * The real server as its own process (`node --import tsx src/main.ts`), so its RSS and CPU
 * can be read from /proc.
 */
export async function startServer(
  storage: Storage,
  options: {
    profileDir?: string | undefined;
    entry: string;
    transport: string;
    /** More environment (a cluster node's NATS_URL and NODE_ID). */
    env?: Record<string, string>;
  },
): Promise<BenchServer> {
  const server = await startServerProcess({
    entry: options.entry,
    nodeArgs: options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [],
    env: { TRANSPORT: options.transport, ...storage.env, ...options.env },
  });
  return {
    backend: storage.backend,
    ...server,
    databaseCpuMs: () => storage.databaseCpuMs(),
    transactions: () => storage.transactions(),
  };
}

/**
 * `node <nodeArgs> --import tsx <entry>` as its own process, in dev auth on a free port with
 * the per-user limits out of the way (the bench is one user with thousands of sockets);
 * resolves once it prints its URL.
 */
export async function startServerProcess(options: {
  entry: string;
  nodeArgs?: readonly string[];
  env: Record<string, string>;
}): Promise<{ pid: number; url: string; stop(): Promise<void>; kill(): Promise<void> }> {
  const { entry, nodeArgs = [], env } = options;
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', entry], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      AUTH_MODE: 'dev',
      LOG_LEVEL: 'warn',
      ...UNLIMITED,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let url: string;
  try {
    url = await listeningUrl(child);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    pid: child.pid!,
    url,
    stop: () => stopChild(child, 'SIGTERM'),
    kill: () => stopChild(child, 'SIGKILL'),
  };
}

function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        // Keep draining, so a chatty server never blocks on a full pipe; its errors show.
        child.stdout?.resume();
        child.stderr?.removeAllListeners('data');
        child.stderr?.pipe(process.stderr);
        resolve(match[1]!);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 20_000) output = output.slice(-10_000);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
}

async function stopChild(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

/** A throwaway database next to the one DATABASE_URL names, dropped afterwards. */
async function createDatabase(adminUrl: string | undefined, syncCommit: 'on' | 'off') {
  if (!adminUrl) throw new Error('the postgres backend needs DATABASE_URL');
  const name = `hitl_bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  if (syncCommit === 'off')
    await admin.unsafe(`alter database ${name} set synchronous_commit = off`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async backendCpuMs(): Promise<number> {
      const rows = await admin<{ pid: number }[]>`
        select pid from pg_stat_activity
        where datname = ${name} and backend_type = 'client backend' and pid <> pg_backend_pid()`;
      const times = await Promise.all(rows.map((row) => cpuMs(row.pid)));
      return times.reduce((a, b) => a + b, 0);
    },
    /**
     * From pg_stat_database, which backends update when they go idle (at most once a second):
     * read it after a pause that lets them report.
     */
    async transactions(): Promise<number> {
      await sleep(STATS_DELAY_MS);
      const [row] = await admin<{ n: string }[]>`
        select xact_commit + xact_rollback as n from pg_stat_database where datname = ${name}`;
      return Number(row?.n ?? NaN);
    },
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 5 });
    },
  };
}
