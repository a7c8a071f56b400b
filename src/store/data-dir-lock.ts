import { randomUUID } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StoreError } from './store-error.ts';

export const LOCK_FILE = 'hitl.lock';

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  hostname: string;
}

/** Lock files this process holds: a second open in the same process is refused too. */
const held = new Set<string>();

/**
 * Takes the lock file of a PGlite data directory, holding this process's pid. Nothing else
 * stops two processes opening one directory and losing writes. A lock whose process is gone
 * is taken over; a live one (or one from another host) is refused with `data_dir_locked`.
 */
export async function acquireDataDirLock(dir: string): Promise<DataDirLock> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const mine: Holder = { pid: process.pid, hostname: hostname() };
  const content = `${JSON.stringify({ ...mine, acquired_at: new Date().toISOString() })}\n`;

  for (let attempt = 0; attempt < 5; attempt += 1) {
    if (await createExclusive(path, content)) {
      held.add(path);
      return { path, release: () => release(path, content) };
    }
    const seen = await readFile(path, 'utf8').catch(() => undefined);
    if (seen === undefined) continue; // released meanwhile: try again
    const holder = parseHolder(seen);
    if (holder && isAlive(holder, path)) {
      throw new StoreError(
        'data_dir_locked',
        `data directory ${dir} is in use by process ${holder.pid} on ${holder.hostname}` +
          ` (lock file ${path}); stop that process, or delete the file if it is not running`,
      );
    }
    await takeOverStale(path, seen);
  }
  throw new StoreError('data_dir_locked', `could not take the lock on data directory ${dir}`);
}

/** Written aside, then hard-linked into place: the lock never exists half-written. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(tmp, content);
  try {
    await link(tmp, path);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Moves a stale lock away; if it changed since it was judged stale, puts it back. */
async function takeOverStale(path: string, judged: string): Promise<void> {
  const aside = `${path}.stale.${process.pid}.${randomUUID()}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return;
    throw error;
  }
  const moved = await readFile(aside, 'utf8');
  if (moved !== judged) await link(aside, path).catch(() => undefined);
  await rm(aside, { force: true });
}

async function release(path: string, content: string): Promise<void> {
  if (!held.delete(path)) return;
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === content) await rm(path, { force: true });
}

function parseHolder(text: string): Holder | undefined {
  try {
    const value = JSON.parse(text) as Partial<Holder>;
    if (typeof value.pid === 'number' && typeof value.hostname === 'string') {
      return { pid: value.pid, hostname: value.hostname };
    }
  } catch {
    // Unreadable: no live holder ever leaves one (the file is linked in complete).
  }
  return undefined;
}

function isAlive(holder: Holder, path: string): boolean {
  if (holder.hostname !== hostname()) return true; // cannot see its processes: assume alive
  // Our own pid: alive only if this process took it (a restarted container reuses pids).
  if (holder.pid === process.pid) return held.has(path);
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM';
  }
}

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error ? String(error.code) : undefined;
}
