import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { SessionRuntime, SessionService } from '../runtime/index.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { createClusterNode, type ClusterCounters, type ClusterNode } from './cluster-runtime.ts';
import { createFollowerSet } from './follower-set.ts';
import { connectBus } from './nats-bus.ts';
import { startNodeRegistry } from './node-registry.ts';

export interface ClusterSettings {
  natsUrl: string;
  nodeId?: string | undefined;
  leaseMs: number;
}

/** What /readyz and /metrics report of this node. */
export interface ClusterStatus {
  node_id: string;
  /** `member`: heartbeating and on NATS; `fenced`: its lease ran out (it serves nothing). */
  state: 'member' | 'fenced' | 'disconnected';
  nats: 'connected' | 'disconnected';
  lease_ms: number;
  owned_sessions: number;
  followed_sessions: number;
  counters: ClusterCounters & { gap_fills: number };
}

export interface JoinedCluster {
  readonly node: ClusterNode;
  /** The runtime the server uses, over the local one built with `node.placement`. */
  serve(local: SessionRuntime): SessionService;
  status(): ClusterStatus;
  ready(): boolean;
  close(): Promise<void>;
}

/** A node id nobody else has: `<host>-<pid>-<random>`, reduced to the allowed characters. */
export function defaultNodeId(): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 40);
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * Joins the cluster: the node's row, heartbeat and advisory lock in PostgreSQL, its NATS
 * connection, the followers of sessions it does not own, and the takeover of dead nodes'
 * active sessions (now, and every lease/5 from then on). Rejects, leaving nothing open, if
 * NATS or the database cannot be reached.
 */
export async function joinCluster(options: {
  settings: ClusterSettings;
  databaseUrl: string;
  store: SqlStore;
  logger: Logger;
}): Promise<JoinedCluster> {
  const { settings, store } = options;
  const nodeId = settings.nodeId ?? defaultNodeId();
  const logger = options.logger.child({ nodeId });
  /** Set once the node exists: the lease cannot lapse before the registry has started. */
  const late: { node?: ClusterNode } = {};
  let fenced = false;
  const registry = await startNodeRegistry({
    url: options.databaseUrl,
    nodeId,
    leaseMs: settings.leaseMs,
    logger,
    onLeaseLost: () => {
      fenced = true;
      late.node?.fence();
    },
  });
  store.fenceWrites(() => registry.leaseValid());
  let bus;
  try {
    bus = await connectBus({ url: settings.natsUrl, nodeId, logger });
  } catch (error) {
    await registry.stop();
    throw error;
  }
  let gapFills = 0;
  const followers = createFollowerSet({
    store,
    bus,
    logger,
    intervalMs: 500,
    onFill: (_id, events) => (gapFills += events),
  });
  const node = createClusterNode({
    nodeId,
    store,
    liveness: registry,
    bus,
    followers,
    logger,
    forwardTimeoutMs: settings.leaseMs,
  });
  late.node = node;
  const joined = node;
  let takeover: NodeJS.Timeout | undefined;
  let taking = false;

  return {
    node: joined,
    serve(local) {
      const service = joined.wrap(local);
      takeover = setInterval(
        () => {
          if (taking || fenced) return;
          taking = true;
          joined
            .takeOver()
            .catch((error: unknown) => logger.warn({ err: error }, 'takeover scan failed'))
            .finally(() => (taking = false));
        },
        // A killed node's lock is free at once: look often (one cheap query), never wait a lease.
        Math.max(200, Math.min(500, Math.floor(settings.leaseMs / 5))),
      );
      takeover.unref();
      return service;
    },
    status() {
      const nats = bus.isConnected() ? 'connected' : 'disconnected';
      return {
        node_id: nodeId,
        state:
          fenced || !registry.leaseValid()
            ? 'fenced'
            : nats === 'connected'
              ? 'member'
              : 'disconnected',
        nats,
        lease_ms: settings.leaseMs,
        owned_sessions: joined.owned(),
        followed_sessions: followers.size(),
        counters: { ...joined.counters(), gap_fills: gapFills },
      };
    },
    ready: () => !fenced && registry.leaseValid() && bus.isConnected(),
    async close() {
      if (takeover) clearInterval(takeover);
      followers.close();
      await bus.close().catch(() => undefined);
      await registry.stop();
    },
  };
}
