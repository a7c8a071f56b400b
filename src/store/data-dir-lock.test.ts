import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireDataDirLock, LOCK_FILE } from './data-dir-lock.ts';
import { openPgliteStore } from './pglite-store.ts';

const LOCK_MODULE = new URL('./data-dir-lock.ts', import.meta.url).href;
/** Takes the lock and holds it until killed; says `locked`, or the code it was refused with. */
const HOLD_LOCK = `
  const { acquireDataDirLock } = await import(process.argv[1]);
  try {
    await acquireDataDirLock(process.argv[2]);
    process.stdout.write('locked\\n');
    setInterval(() => {}, 60_000);
  } catch (error) {
    process.stdout.write(error.code + '\\n');
  }
`;

const dirs: string[] = [];
const children: ChildProcess[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hitl-lock-'));
  dirs.push(dir);
  return dir;
}

/** Another process trying to take the lock: resolves with what it said. */
async function lockInChild(dir: string): Promise<{ child: ChildProcess; said: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', HOLD_LOCK, LOCK_MODULE, dir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  return { child, said: chunk.toString().trim() };
}

async function holdInChild(dir: string): Promise<ChildProcess> {
  const { child, said } = await lockInChild(dir);
  expect(said).toBe('locked');
  return child;
}

const lockPath = (dir: string) => join(dir, LOCK_FILE);

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('data directory lock', () => {
  it('refuses a directory another live process holds, naming its pid and host', async () => {
    const dir = await tempDir();
    const child = await holdInChild(dir);
    await expect(acquireDataDirLock(dir)).rejects.toMatchObject({
      code: 'data_dir_locked',
      message: expect.stringContaining(`${dir} is in use by process ${child.pid} on ${hostname()}`),
    });
    await expect(openPgliteStore({ dataDir: dir })).rejects.toMatchObject({
      code: 'data_dir_locked',
    });
  });

  it('takes over at once from a holder killed with SIGKILL, its socket file left behind', async () => {
    const dir = await tempDir();
    const child = await holdInChild(dir);
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(lstatSync(lockPath(dir)).isSocket()).toBe(true); // nothing cleaned up after it
    const lock = await acquireDataDirLock(dir);
    await expect(lockInChild(dir)).resolves.toMatchObject({ said: 'data_dir_locked' });
    await lock.release();
    expect(existsSync(lockPath(dir))).toBe(false);
  });

  it.each([
    [
      'a dead pid',
      () => ({ pid: spawnSync(process.execPath, ['-e', '']).pid, hostname: hostname() }),
    ],
    // pid 1 is alive here, as a reused pid of another program would be after a restart.
    ['a live pid of an unrelated process', () => ({ pid: 1, hostname: hostname() })],
    ['another host (a recreated container)', () => ({ pid: 1, hostname: `not-${hostname()}` })],
  ])('takes over a lock file left by %s', async (_what, holder) => {
    const dir = await tempDir();
    await writeFile(lockPath(dir), JSON.stringify(holder()));
    const lock = await acquireDataDirLock(dir);
    await expect(lockInChild(dir)).resolves.toMatchObject({ said: 'data_dir_locked' });
    await lock.release();
  });

  it('lets exactly one of several processes racing for a stale lock win', async () => {
    const dir = await tempDir();
    const holder = await holdInChild(dir);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    const said = (await Promise.all([1, 2, 3, 4].map(() => lockInChild(dir)))).map((r) => r.said);
    expect(said.sort()).toEqual([
      'data_dir_locked',
      'data_dir_locked',
      'data_dir_locked',
      'locked',
    ]);
  });

  it('locks a data directory whose path is too long for a socket, under the temp dir', async () => {
    const base = await tempDir();
    const dir = join(base, 'd'.repeat(60), 'e'.repeat(60));
    await mkdir(dir, { recursive: true });
    const child = await holdInChild(dir);
    await expect(acquireDataDirLock(dir)).rejects.toMatchObject({
      code: 'data_dir_locked',
      message: expect.stringMatching(/\(lock \/tmp\/hitl-[0-9a-f]{24}\.lock\)/),
    });
    child.kill('SIGKILL');
    await once(child, 'exit');
    const lock = await acquireDataDirLock(dir);
    expect(lock).toMatchObject({ outside: true });
    await lock.release();
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
