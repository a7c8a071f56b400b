import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { NATS_SERVER_PATH, startNatsServer } from '../test/support/nats-server.ts';
import type { BenchConfig, BenchTransport } from './config.ts';
import { startServer, type BenchServer, type Storage } from './server-process.ts';

export const CLUSTER_NODES = 3;
/** The product's default lease, set explicitly so the report can name it. */
export const CLUSTER_LEASE_MS = 5_000;

export const nodeId = (index: number) => `node-${index}`;

/** Why the cluster phase cannot run in this bench, or null. */
export function clusterMissing(config: BenchConfig): string | null {
  if (!config.backends.includes('postgres'))
    return 'cluster mode runs on PostgreSQL: set DATABASE_URL and include postgres in --backends';
  if (!existsSync(NATS_SERVER_PATH))
    return `no nats-server at ${NATS_SERVER_PATH} (apt-get install nats-server, or set NATS_SERVER_PATH)`;
  return null;
}

/** Server processes on one PostgreSQL database and a nats-server of the bench's own. */
export interface BenchCluster {
  /** By index (NODE_ID node-<index>); a killed node keeps its slot until it is started again. */
  readonly nodes: BenchServer[];
  /** Starts node `index` (again, under the same NODE_ID) and waits until it is ready. */
  start(index: number): Promise<BenchServer>;
  stop(): Promise<void>;
}

export async function startCluster(
  storage: Storage,
  options: { entry: string; transport: BenchTransport },
): Promise<BenchCluster> {
  const nats = await startNatsServer();
  const nodes: BenchServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await nats.dispose();
  };
  async function start(index: number): Promise<BenchServer> {
    const node = await startServer(storage, {
      ...options,
      env: {
        NATS_URL: nats.url,
        NODE_ID: nodeId(index),
        CLUSTER_LEASE_MS: String(CLUSTER_LEASE_MS),
      },
    });
    nodes[index] = node;
    await ready(node);
    return node;
  }
  try {
    // One at a time: each joins a cluster whose registry is settled.
    for (let i = 0; i < CLUSTER_NODES; i += 1) await start(i);
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, start, stop };
}

/** Until `/readyz` answers 200 (joined the cluster: registry row, lock, NATS), within 30 s. */
async function ready(node: BenchServer): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    const response = await fetch(`${node.url}/readyz`).catch((error: unknown) => error);
    if (response instanceof Response) {
      if (response.status === 200) return;
      last = `${response.status} ${await response.text()}`;
    } else last = String(response);
    await sleep(50);
  }
  throw new Error(`node at ${node.url} not ready: ${last}`);
}
