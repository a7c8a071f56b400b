import { createHash } from 'node:crypto';
import { mkdir, realpath, rm, stat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError } from './store-error.ts';

export const LOCK_FILE = 'hitl.lock';

/** Unix socket paths are limited to 108 bytes on Linux, 104 on macOS, the NUL included. */
const MAX_SOCKET_PATH = 100;
/** A takeover guard older than this was left by a process that died inside it. */
const STALE_GUARD_MS = 5_000;

export interface DataDirLock {
  /** The lock's Unix socket: `<dir>/hitl.lock`, or one under the OS temp dir (`outside`). */
  readonly path: string;
  /** True when the data dir's path is too long for a socket inside it. */
  readonly outside: boolean;
  /** Closes the socket (which removes it). Safe to call twice. */
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  hostname: string;
}

/** What a connection to an existing lock socket tells about its holder. */
type Probe =
  | { kind: 'live'; holder: Holder | undefined }
  | { kind: 'stale' } // nothing listens: the holder is gone
  | { kind: 'dying' } // accepted by the kernel, then reset: the holder is being torn down
  | { kind: 'gone' }; // removed meanwhile

/**
 * Locks a PGlite data directory against a second process with a Unix socket bound inside it.
 * The kernel closes the socket when its holder dies however it dies, so a lock never outlives
 * its process: a live holder answers a connection with its pid and host; a dead one's socket
 * refuses (ECONNREFUSED), and is removed and bound again. No pid is ever judged from outside.
 */
export async function acquireDataDirLock(
  dir: string,
  options: { timeoutMs?: number } = {},
): Promise<DataDirLock> {
  await mkdir(dir, { recursive: true });
  const { path, outside } = await lockPathOf(dir);
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const mine = `${JSON.stringify({ pid: process.pid, hostname: hostname() })}\n`;

  while (Date.now() < deadline) {
    const server = await listen(path, mine);
    if (server) {
      let released: Promise<void> | undefined;
      return {
        path,
        outside,
        release: () => (released ??= new Promise((resolve) => server.close(() => resolve()))),
      };
    }
    const probe = await probeLock(path, deadline);
    if (probe.kind === 'live') throw lockedError(dir, path, probe.holder);
    if (probe.kind === 'stale') await removeStale(path, deadline);
    else if (probe.kind === 'dying') await sleep(20);
  }
  throw lockedError(dir, path, undefined);
}

/** `<realpath>/hitl.lock` when short enough for a socket, else one named by its hash. */
export async function lockPathOf(dir: string): Promise<{ path: string; outside: boolean }> {
  const real = await realpath(dir);
  const inside = join(real, LOCK_FILE);
  if (Buffer.byteLength(inside) <= MAX_SOCKET_PATH) return { path: inside, outside: false };
  const hash = createHash('sha256').update(real).digest('hex').slice(0, 24);
  return { path: join(tmpdir(), `hitl-${hash}.lock`), outside: true };
}

/** Binds the socket; undefined when the path exists (a live holder or a stale file). */
async function listen(path: string, greeting: string): Promise<Server | undefined> {
  const server = createServer((socket) => {
    socket.on('error', () => {}); // a prober that went away is no concern of the holder
    socket.end(greeting);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    if (errorCode(error) === 'EADDRINUSE') return undefined;
    throw error;
  }
  server.unref(); // holding the lock never keeps the process alive
  return server;
}

/** Connects to the socket at `path`: a live holder answers with one line naming itself. */
function probeLock(path: string, deadline: number): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = connect(path);
    let text = '';
    const done = (probe: Probe) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(probe);
    };
    // Connected but silent until the deadline: a live holder whose event loop is stuck.
    const timer = setTimeout(
      () => done({ kind: 'live', holder: undefined }),
      deadline - Date.now(),
    );
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) done({ kind: 'live', holder: parseHolder(text) });
    });
    socket.on('end', () =>
      done(text ? { kind: 'live', holder: parseHolder(text) } : { kind: 'dying' }),
    );
    socket.on('error', (error) => {
      const code = errorCode(error);
      if (code === 'ECONNREFUSED') done({ kind: 'stale' });
      else if (code === 'ENOENT') done({ kind: 'gone' });
      else if (code === 'ECONNRESET' || code === 'EPIPE') done({ kind: 'dying' });
      else done({ kind: 'live', holder: undefined }); // EACCES and the like: cannot tell
    });
  });
}

/**
 * Removes a stale lock under a short-lived guard directory, judged stale again inside it:
 * without the guard, two starters could both judge it stale and one remove the other's fresh
 * socket. A process binding where no file is cannot clobber anything: bind fails on a file.
 */
async function removeStale(path: string, deadline: number): Promise<void> {
  const guard = `${path}.takeover`;
  while (!(await tryMkdir(guard))) {
    const age = await stat(guard).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > STALE_GUARD_MS) await rm(guard, { recursive: true, force: true });
    else if (Date.now() > deadline) return;
    else await sleep(10);
  }
  try {
    if ((await probeLock(path, deadline)).kind === 'stale') {
      await unlink(path).catch((error: unknown) => {
        if (errorCode(error) !== 'ENOENT') throw error;
      });
    }
  } finally {
    await rm(guard, { recursive: true, force: true });
  }
}

async function tryMkdir(path: string): Promise<boolean> {
  try {
    await mkdir(path);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  }
}

function lockedError(dir: string, path: string, holder: Holder | undefined): StoreError {
  const who = holder ? `process ${holder.pid} on ${holder.hostname}` : 'another process';
  return new StoreError(
    'data_dir_locked',
    `data directory ${dir} is in use by ${who} (lock ${path}); stop that process, or use another DATA_DIR`,
  );
}

function parseHolder(text: string): Holder | undefined {
  try {
    const value = JSON.parse(text) as Partial<Holder>;
    if (typeof value.pid === 'number' && typeof value.hostname === 'string') {
      return { pid: value.pid, hostname: value.hostname };
    }
  } catch {
    // Not a holder of this runtime: still a live listener on the path.
  }
  return undefined;
}

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error ? String(error.code) : undefined;
}
