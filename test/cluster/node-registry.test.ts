import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNodeRegistry, type NodeRegistry } from '../../src/cluster/node-registry.ts';
import { openPostgresStore } from '../../src/store/postgres-store.ts';

const url = process.env['DATABASE_URL'];
if (!url) console.info('skipped: the cluster node registry suite (DATABASE_URL is not set)');

async function until(condition: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe.skipIf(!url)('cluster node registry (PostgreSQL)', () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  let admin: postgres.Sql;
  let sql: postgres.Sql;
  const started: NodeRegistry[] = [];

  beforeAll(async () => {
    admin = postgres(url!, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    // The store's migrations make the tables.
    await (await openPostgresStore({ url: url!, schema })).close();
    sql = postgres(url!, { max: 2, onnotice: () => {}, connection: { search_path: schema } });
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((r) => r.stop()));
    await sql.unsafe('DELETE FROM sessions');
  });
  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    await admin?.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    await admin?.end({ timeout: 5 });
  });

  async function start(nodeId: string, leaseMs: number, onLeaseLost = () => {}) {
    const registry = await startNodeRegistry({ url: url!, schema, nodeId, leaseMs, onLeaseLost });
    started.push(registry);
    return registry;
  }

  const heartbeat = async (nodeId: string) => {
    const [row] = await sql.unsafe<{ at: string }[]>(
      'SELECT heartbeat_at::text AS at FROM cluster_nodes WHERE node_id = $1',
      [nodeId],
    );
    return row?.at;
  };

  /** Ends the database session holding a node's lock, as a crash or a cut network would. */
  async function killLockConnection(nodeId: string): Promise<void> {
    const rows = await admin.unsafe<{ ok: boolean }[]>(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
       WHERE application_name LIKE $1`,
      [`hitl-node ${nodeId} pid %`],
    );
    expect(rows.map((r) => r.ok)).toEqual([true]);
  }

  it('registers the node and moves its heartbeat on the database clock', async () => {
    const a = await start('node-a', 500);
    const first = await heartbeat('node-a');
    expect(first).toBeDefined();
    const [row] = await sql.unsafe(
      `SELECT lease_ms, stopped_at FROM cluster_nodes WHERE node_id = 'node-a'`,
    );
    expect(row).toEqual({ lease_ms: 500, stopped_at: null });
    await until(async () => (await heartbeat('node-a')) !== first, 'a second heartbeat');
    expect(a.leaseValid()).toBe(true);
    const b = await start('node-b', 500);
    expect(await b.isDead('node-a')).toBe(false);
    expect(await a.isDead('node-a')).toBe(false);
    expect(await a.isDead('node-never-seen')).toBe(true);
  });

  it('sees a node whose database session ended dead at once, by its lock, long before its lease', async () => {
    const lost: string[] = [];
    const a = await start('node-a', 60_000);
    const b = await start('node-b', 60_000, () => lost.push('node-b'));
    await sql.unsafe(
      `INSERT INTO sessions (id, owner, state, machine_version, owner_node, owner_epoch) VALUES
         ('s-idle', 'alice', 'idle', 1, 'node-b', 1),
         ('s-busy', 'alice', 'executing', 1, 'node-b', 1),
         ('s-other', 'alice', 'executing', 1, 'node-a', 1)`,
    );
    expect(await a.isDead('node-b')).toBe(false);
    expect(await a.deadNodes()).toEqual([]);

    const killed = performance.now();
    await killLockConnection('node-b');
    await until(() => a.isDead('node-b'), 'node-b dead');
    expect(performance.now() - killed).toBeLessThan(2_000);
    expect(await a.deadNodes()).toEqual(['node-b']);
    expect(await a.sessionsOf('node-b')).toEqual(['s-busy', 's-idle']);

    // The node itself learns it at its next heartbeat: its new connection holds no lock.
    await until(() => lost.length > 0, 'node-b to lose its lease');
    expect(lost).toEqual(['node-b']);
    expect(b.leaseValid()).toBe(false);
    expect(await a.isDead('node-b')).toBe(true);
    await sleep(100);
    expect(lost).toEqual(['node-b']);
  });

  it('sees a node whose heartbeat is older than its lease dead, though its lock is held (a frozen process)', async () => {
    const a = await start('node-a', 60_000);
    await start('node-b', 60_000);
    expect(await a.isDead('node-b')).toBe(false);
    await sql.unsafe(
      `UPDATE cluster_nodes SET heartbeat_at = now() - interval '61 seconds'
       WHERE node_id = 'node-b'`,
    );
    expect(await a.isDead('node-b')).toBe(true);
    await sql.unsafe(
      `UPDATE cluster_nodes SET heartbeat_at = now() - interval '59 seconds'
       WHERE node_id = 'node-b'`,
    );
    expect(await a.isDead('node-b')).toBe(false);
  });

  it('loses its lease when it cannot heartbeat for the lease time, and lets go of its lock', async () => {
    let lost = 0;
    const a = await start('node-a', 60_000);
    const b = await start('node-b', 300, () => (lost += 1));
    expect(b.leaseValid()).toBe(true);
    // A frozen event loop (a long GC, SIGSTOP): no heartbeat can go out.
    const frozen = performance.now();
    while (performance.now() - frozen < 450) {
      // busy
    }
    // The first thing it checks after the freeze, before any write: the lease is gone.
    expect(b.leaseValid()).toBe(false);
    await until(() => lost > 0, 'onLeaseLost');
    // With the lock let go, peers need not wait for the heartbeat to age.
    await until(() => a.isDead('node-b'), 'node-b dead to its peer');
    await sleep(200);
    expect(lost).toBe(1);
    expect(b.leaseValid()).toBe(false);
  });

  it('marks a stopped node dead, and a restart under its id alive again', async () => {
    const a = await start('node-a', 60_000);
    const b = await start('node-b', 60_000);
    await b.stop();
    expect(b.leaseValid()).toBe(false);
    const [row] = await sql.unsafe(
      `SELECT stopped_at IS NOT NULL AS stopped FROM cluster_nodes WHERE node_id = 'node-b'`,
    );
    expect(row).toEqual({ stopped: true });
    expect(await a.isDead('node-b')).toBe(true);
    await start('node-b', 60_000);
    expect(await a.isDead('node-b')).toBe(false);
  });

  it('refuses a node id that is not a safe token, and one a live process holds', async () => {
    await expect(
      startNodeRegistry({ url: url!, schema, nodeId: "x'; --", leaseMs: 500, onLeaseLost() {} }),
    ).rejects.toMatchObject({ code: 'invalid_node_id' });
    await start('node-a', 60_000);
    await expect(
      startNodeRegistry({ url: url!, schema, nodeId: 'node-a', leaseMs: 200, onLeaseLost() {} }),
    ).rejects.toMatchObject({ code: 'node_id_in_use' });
  });
});
