import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runCli, type CliDeps } from './cli.ts';
import { verifyEvents } from './store/event-chain.ts';
import { createMemoryStore } from './store/memory-store.ts';
import { thinking } from '../test/support/store-fixtures.ts';

/** A memory store with two sessions: `good` chains, `gap` has seq 2 changed by hand. */
async function seeded() {
  const store = createMemoryStore();
  await store.createSession({ id: 'good', owner: 'alice', state: 'idle', machine_version: 1 });
  await store.appendEvents([thinking('good', 1), thinking('good', 2)]);
  await store.appendEvents([thinking('gap', 1), thinking('gap', 2), thinking('gap', 3)]);
  const tampered = await store.readEvents('gap', 0, 10);
  tampered[1]!.data = { execution_id: 'exec-1', command: 'changed by hand', plan_steps: null };
  return {
    ...store,
    verifyChain: (id: string) =>
      id === 'gap' ? Promise.resolve(verifyEvents('gap', tampered)) : store.verifyChain(id),
    listSessionIds: () => Promise.resolve(['gap', 'good']),
  };
}

async function run(args: string[], open: CliDeps['open'] = seeded) {
  const out: string[] = [];
  const err: string[] = [];
  let served = 0;
  const serve = () => {
    served += 1;
    return Promise.resolve();
  };
  const code = await runCli(args, {
    open,
    serve,
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out: out.join(''), err: err.join(''), served };
}

describe('cli verify', () => {
  it('exits 0 with one line for an intact chain', async () => {
    expect(await run(['verify', 'good'])).toEqual({
      code: 0,
      out: 'ok: session good, 2 events, chain intact\n',
      err: '',
      served: 0,
    });
  });

  it('exits 1 naming the first broken seq and the problem', async () => {
    expect(await run(['verify', 'gap'])).toMatchObject({
      code: 1,
      out: 'broken: session gap at seq 2: content does not match its hash\n',
    });
  });

  it('verifies every session with --all', async () => {
    expect(await run(['verify', '--all'])).toMatchObject({
      code: 1,
      out: 'broken: session gap at seq 2: content does not match its hash\nbroken: 1 of 2 sessions\n',
    });
  });

  it('exits 2 on a usage error, an unknown session, or a store it cannot open', async () => {
    expect((await run([])).code).toBe(2);
    expect((await run(['verify'])).err).toMatch(/usage/);
    expect(await run(['verify', 'nope'])).toMatchObject({ code: 2, err: 'unknown session nope\n' });
    const locked = () => Promise.reject(new Error('data directory ./data is in use'));
    expect(await run(['verify', 'good'], locked)).toMatchObject({
      code: 2,
      err: 'error: data directory ./data is in use\n',
    });
  });

  it('runs as a script against the configured store', () => {
    const env = { ...process.env, DATA_DIR: 'memory://', DATABASE_URL: '' };
    const cli = new URL('./cli.ts', import.meta.url).pathname;
    const result = spawnSync(process.execPath, ['--import', 'tsx', cli, 'verify', '--all'], {
      env,
      encoding: 'utf8',
    });
    expect(result.stdout).toBe('ok: 0 sessions, 0 events, all chains intact\n');
    expect(result.status).toBe(0);
  });
});

describe('cli serve and migrate', () => {
  it('serve starts the server and nothing else', async () => {
    expect(await run(['serve'])).toEqual({ code: 0, out: '', err: '', served: 1 });
    expect(await run(['serve', 'now'])).toMatchObject({ code: 2, served: 0 });
  });

  it('migrate opens the store (which applies the migrations), closes it and says so', async () => {
    let closed = false;
    const open = async () => {
      const store = await seeded();
      return {
        ...store,
        close: () => {
          closed = true;
          return store.close();
        },
      };
    };
    expect(await run(['migrate'], open)).toEqual({
      code: 0,
      out: expect.stringMatching(/^ok: memory schema is at migration [1-9]\d*\n$/),
      err: '',
      served: 0,
    });
    expect(closed).toBe(true);
    expect((await run(['migrate', 'now'])).code).toBe(2);
  });

  it('lists every command in its usage', async () => {
    const { err } = await run(['help']);
    for (const command of ['serve', 'migrate', 'verify <session_id>', 'verify --all']) {
      expect(err).toContain(command);
    }
  });
});
