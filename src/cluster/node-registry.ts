import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import { backendPid, openLockConnection } from '../store/lock-connection.ts';
import { checkNodeId } from '../store/session-ownership.ts';

export interface NodeRegistryOptions {
  /** The PostgreSQL the store uses, opened first (migration 006 makes `cluster_nodes`). */
  url: string;
  schema?: string | undefined;
  /** 1-64 letters, digits, `-`, `_` or `.`. */
  nodeId: string;
  /** How long a node may go without a heartbeat before it counts as dead (and fences itself). */
  leaseMs: number;
  logger?: Logger | undefined;
  /**
   * Called once when this node's lease lapsed (no heartbeat for `leaseMs` by the local
   * monotonic clock, or its lock connection dropped): stop every actor it owns. By then the
   * lock is let go, so peers take its sessions at once; the registry is done (start a new one
   * to rejoin).
   */
  onLeaseLost: () => void;
}

export interface NodeRegistry {
  readonly nodeId: string;
  /** False once the lease lapsed (or the registry stopped): no write may go out then. */
  leaseValid(): boolean;
  /**
   * Whether a node is gone: its advisory lock is free (its database session ended), its
   * heartbeat is older than its lease by the database clock, it stopped, or it never registered.
   */
  isDead(nodeId: string): Promise<boolean>;
  /** The other nodes that are dead and still own sessions. */
  deadNodes(): Promise<string[]>;
  /**
   * The sessions a node owns, active ones (not idle or ended) first; with `activeOnly`, only
   * those (what a takeover restores at once; the others are claimed on their next use).
   */
  sessionsOf(nodeId: string, options?: { activeOnly?: boolean }): Promise<string[]>;
  /** Marks this node stopped, lets go of its lock and ends its connections. */
  stop(): Promise<void>;
}

/** Per schema, like the database lock: clusters on other schemas never meet. */
const NODE_KEY = (id: string) =>
  `hashtextextended('hitl-node:' || coalesce(current_schema(), '') || ':' || ${id}, 0)`;

/** Dead unless its lock is held; the cheap tests first, and a lock taken is let go at once. */
const DEAD = `CASE
    WHEN n.node_id IS NULL OR n.stopped_at IS NOT NULL THEN true
    WHEN n.heartbeat_at < now() - n.lease_ms * interval '1 millisecond' THEN true
    WHEN pg_try_advisory_lock(${NODE_KEY('n.node_id')})
      THEN pg_advisory_unlock(${NODE_KEY('n.node_id')})
    ELSE false
  END`;

/** Only over the connection that holds the lock: a reconnected one (another pid) beats no more. */
const HEARTBEAT = `UPDATE cluster_nodes SET heartbeat_at = now()
  WHERE node_id = $1 AND stopped_at IS NULL AND pg_backend_pid() = $2 RETURNING 1`;

/**
 * Registers this node in `cluster_nodes` and keeps it alive there: the advisory lock on its
 * id is held on a connection of its own (the database releases it the moment this process's
 * session ends), and a heartbeat every leaseMs/5 moves `heartbeat_at` on the database clock.
 * Resolves once the lock is held and the row is written.
 */
export async function startNodeRegistry(options: NodeRegistryOptions): Promise<NodeRegistry> {
  const { nodeId, leaseMs, logger } = options;
  checkNodeId(nodeId);
  if (!Number.isInteger(leaseMs) || leaseMs < 100) {
    throw new AppError(
      'invalid_config',
      `the cluster lease must be a whole number of ms ≥ 100, not ${leaseMs}`,
    );
  }
  let lockClosed = () => {};
  const lock = openLockConnection({
    url: options.url,
    schema: options.schema,
    applicationName: `hitl-node ${nodeId} pid ${process.pid} on ${hostname()}`,
    onclose: () => lockClosed(),
  });
  const pool = postgres(options.url, {
    max: 2,
    onnotice: () => {},
    ...(options.schema === undefined ? {} : { connection: { search_path: options.schema } }),
  });
  let pid: number;
  let lastBeat: number;
  try {
    await takeLock(lock, nodeId, leaseMs);
    pid = await backendPid(lock);
    lastBeat = performance.now();
    await lock.unsafe(
      `INSERT INTO cluster_nodes (node_id, lease_ms) VALUES ($1, $2)
       ON CONFLICT (node_id) DO UPDATE SET started_at = now(), heartbeat_at = now(),
         lease_ms = EXCLUDED.lease_ms, stopped_at = NULL`,
      [nodeId, leaseMs],
    );
  } catch (error) {
    await Promise.all([lock.end({ timeout: 1 }), pool.end({ timeout: 1 })]);
    throw error;
  }

  let done: 'lost' | 'stopped' | undefined;
  let beating = false;
  let stopping: Promise<void> | undefined;
  const timer = setInterval(tick, Math.max(10, Math.floor(leaseMs / 5)));
  timer.unref();
  // The lock went with the connection (a reconnect would hold none): peers may take over now.
  lockClosed = () => lose('its lock connection closed (the database session that held it ended)');
  logger?.info({ nodeId, leaseMs }, 'registered this cluster node');

  function leaseValid(): boolean {
    if (done) return false;
    const age = performance.now() - lastBeat;
    if (age < leaseMs) return true;
    lose(`no heartbeat for ${Math.round(age)} ms (lease ${leaseMs} ms)`);
    return false;
  }

  function lose(why: string): void {
    if (done) return;
    done = 'lost';
    clearInterval(timer);
    logger?.error({ nodeId, why }, 'lost the cluster lease; this node fences itself');
    // Letting go of the lock tells peers at once that this node is gone.
    lock.end({ timeout: 1 }).catch(() => undefined);
    queueMicrotask(() => {
      try {
        options.onLeaseLost();
      } catch (error) {
        logger?.error({ err: error }, 'the lease-lost handler threw');
      }
    });
  }

  function tick(): void {
    // A process resumed after a pause finds its lease lapsed here, before it beats again.
    if (!leaseValid() || beating) return;
    beating = true;
    const sent = performance.now();
    lock
      .unsafe(HEARTBEAT, [nodeId, pid])
      .then((rows) => {
        if (rows.length === 1) lastBeat = Math.max(lastBeat, sent);
        else lose('its lock connection was replaced (the database session that held it ended)');
      })
      .catch((error: unknown) => {
        if (!done) logger?.warn({ err: error, nodeId }, 'a cluster heartbeat failed');
      })
      .finally(() => (beating = false));
  }

  return {
    nodeId,
    leaseValid,
    async isDead(id) {
      const [row] = await pool.unsafe<{ dead: boolean }[]>(
        `SELECT ${DEAD} AS dead
         FROM (SELECT $1::text AS id) AS q LEFT JOIN cluster_nodes AS n ON n.node_id = q.id`,
        [id],
      );
      return row?.dead ?? true;
    },
    async deadNodes() {
      const rows = await pool.unsafe<{ node_id: string }[]>(
        `SELECT n.node_id FROM cluster_nodes AS n
         WHERE n.node_id <> $1
           AND EXISTS (SELECT 1 FROM sessions AS s WHERE s.owner_node = n.node_id)
           AND ${DEAD}
         ORDER BY n.node_id`,
        [nodeId],
      );
      return rows.map((r) => r.node_id);
    },
    async sessionsOf(id, options = {}) {
      const ended = `state IN ('idle', 'complete', 'cancelled', 'failed')`;
      const rows = await pool.unsafe<{ id: string }[]>(
        `SELECT id FROM sessions WHERE owner_node = $1
         ${options.activeOnly ? `AND NOT ${ended}` : ''} ORDER BY ${ended}, id`,
        [id],
      );
      return rows.map((r) => r.id);
    },
    stop() {
      stopping ??= (async () => {
        const held = done === undefined;
        done = 'stopped';
        clearInterval(timer);
        if (held) {
          await lock
            .unsafe(
              `UPDATE cluster_nodes SET stopped_at = now()
               WHERE node_id = $1 AND pg_backend_pid() = $2`,
              [nodeId, pid],
            )
            .catch((error: unknown) => logger?.warn({ err: error }, 'could not mark node stopped'));
        }
        await Promise.all([lock.end({ timeout: 5 }), pool.end({ timeout: 5 })]);
        logger?.info({ nodeId }, 'left the cluster');
      })();
      return stopping;
    },
  };
}

/** The lock on this node id, waiting up to a lease for a previous holder to let go. */
async function takeLock(lock: postgres.Sql, nodeId: string, leaseMs: number): Promise<void> {
  const [row] = await lock.unsafe<{ ok: boolean }[]>(
    `SELECT pg_try_advisory_lock(${NODE_KEY('$1')}) AS ok`,
    [nodeId],
  );
  if (row?.ok) return;
  await lock.unsafe(`SET lock_timeout = ${leaseMs}`);
  try {
    await lock.unsafe(`SELECT pg_advisory_lock(${NODE_KEY('$1')})`, [nodeId]);
    await lock.unsafe('RESET lock_timeout');
  } catch (error) {
    if (!(error instanceof postgres.PostgresError) || error.code !== '55P03') throw error;
    throw new AppError(
      'node_id_in_use',
      `another live process holds cluster node id ${nodeId} (waited ${leaseMs} ms): give each node its own NODE_ID`,
      503,
    );
  }
}
