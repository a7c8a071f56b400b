import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireDataDirLock, LOCK_FILE } from './data-dir-lock.ts';
import { openPgliteStore } from './pglite-store.ts';

const LOCK_MODULE = new URL('./data-dir-lock.ts', import.meta.url).href;
const HOLD_LOCK = `
  const { acquireDataDirLock } = await import(process.argv[1]);
  await acquireDataDirLock(process.argv[2]);
  process.stdout.write('locked\\n');
  setInterval(() => {}, 60_000);
`;

const dirs: string[] = [];
const children: ChildProcess[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hitl-lock-'));
  dirs.push(dir);
  return dir;
}

/** Another process that takes the lock and keeps it until killed. */
async function holdInChild(dir: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', HOLD_LOCK, LOCK_MODULE, dir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  expect(chunk.toString()).toBe('locked\n');
  return child;
}

const lockPath = (dir: string) => join(dir, LOCK_FILE);
const holderPid = async (dir: string) =>
  (JSON.parse(await readFile(lockPath(dir), 'utf8')) as { pid: number }).pid;

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('data directory lock', () => {
  it('refuses a directory another live process holds, naming it', async () => {
    const dir = await tempDir();
    const child = await holdInChild(dir);
    await expect(acquireDataDirLock(dir)).rejects.toMatchObject({
      code: 'data_dir_locked',
      message: expect.stringContaining(dir) as unknown,
    });
    await expect(openPgliteStore({ dataDir: dir })).rejects.toMatchObject({
      code: 'data_dir_locked',
    });

    // Once that process is gone its lock is stale, and taken over.
    child.kill('SIGKILL');
    await once(child, 'exit');
    const lock = await acquireDataDirLock(dir);
    expect(await holderPid(dir)).toBe(process.pid);
    await lock.release();
    expect(existsSync(lockPath(dir))).toBe(false);
  });

  it('takes over the lock of a process that died without releasing it', async () => {
    const dir = await tempDir();
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(lockPath(dir), JSON.stringify({ pid: dead, hostname: hostname() }));
    const lock = await acquireDataDirLock(dir);
    expect(await holderPid(dir)).toBe(process.pid);
    await lock.release();
  });

  it('takes over an unreadable lock file', async () => {
    const dir = await tempDir();
    await writeFile(lockPath(dir), '');
    const lock = await acquireDataDirLock(dir);
    expect(await holderPid(dir)).toBe(process.pid);
    await lock.release();
  });

  it('refuses a lock held from another host, whose processes it cannot see', async () => {
    const dir = await tempDir();
    await writeFile(lockPath(dir), JSON.stringify({ pid: 1, hostname: `not-${hostname()}` }));
    await expect(acquireDataDirLock(dir)).rejects.toMatchObject({ code: 'data_dir_locked' });
  });

  it('refuses a second open in the same process until the first releases', async () => {
    const dir = await tempDir();
    const first = await acquireDataDirLock(dir);
    await expect(acquireDataDirLock(dir)).rejects.toMatchObject({ code: 'data_dir_locked' });
    await first.release();
    const second = await acquireDataDirLock(dir);
    await second.release();
  });

  it('keeps a PGlite store on disk locked while open, and its data after close', async () => {
    const dir = await tempDir();
    const store = await openPgliteStore({ dataDir: dir });
    await store.createSession({ id: 's-1', owner: 'alice', state: 'idle', machine_version: 1 });
    await expect(openPgliteStore({ dataDir: dir })).rejects.toMatchObject({
      code: 'data_dir_locked',
    });
    await store.close();
    expect(existsSync(lockPath(dir))).toBe(false);

    const reopened = await openPgliteStore({ dataDir: dir });
    expect((await reopened.getSession('s-1'))?.owner).toBe('alice');
    await reopened.close();
  }, 60_000);
});
