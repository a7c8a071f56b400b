import { createDurableData, withDirectDb, type DurableData } from '../durability/durable-data.ts';
import { runToEnd, startServer, type ServerProcess } from '../durability/server-process.ts';
import {
  hasNatsServer,
  NATS_SERVER_PATH,
  startNatsServer,
  type TestNatsServer,
} from '../support/nats-server.ts';

/** Why the cluster scenarios cannot run here, or null. */
export function clusterMissing(): string | null {
  if (!process.env['DATABASE_URL'])
    return 'the cluster scenarios (cluster mode runs on PostgreSQL: set DATABASE_URL)';
  if (!hasNatsServer())
    return `the cluster scenarios (no nats-server at ${NATS_SERVER_PATH}: apt-get install nats-server)`;
  return null;
}

export interface ClusterNodeProcess extends ServerProcess {
  readonly nodeId: string;
}

/** Server processes of one cluster: one PostgreSQL schema, a nats-server of the test's own. */
export interface TestCluster {
  readonly data: DurableData;
  readonly nats: TestNatsServer;
  /** By index; a killed or stopped node stays in its slot until started again. */
  readonly nodes: ClusterNodeProcess[];
  /** Starts node `index` (again), with the cluster's environment. */
  start(index: number): Promise<ClusterNodeProcess>;
  /** The nodes whose process is running (not killed, not exited). */
  running(): ClusterNodeProcess[];
  ownership(sessionId: string): Promise<{ owner_node: string | null; owner_epoch: number }>;
  /** `hitl-runtime verify --all` over the cluster's data: exit code and output. */
  verifyAll(): Promise<{ code: number | null; output: string }>;
  dispose(): Promise<void>;
}

export async function startTestCluster(
  count: number,
  env: Record<string, string> = {},
): Promise<TestCluster> {
  const data = await createDurableData('postgres');
  const nats = await startNatsServer();
  const nodes: ClusterNodeProcess[] = [];
  const stopped = new Set<ClusterNodeProcess>();

  async function start(index: number): Promise<ClusterNodeProcess> {
    const nodeId = `node-${index}`;
    const server = await startServer(data, {
      NATS_URL: nats.url,
      NODE_ID: nodeId,
      PASSIVATE_AFTER_MS: '0',
      LOG_LEVEL: 'info',
      ...env,
    });
    const node = Object.assign(server, { nodeId });
    void server.exited.then(() => stopped.add(node));
    nodes[index] = node;
    return node;
  }

  try {
    for (let i = 0; i < count; i += 1) await start(i);
  } catch (error) {
    await Promise.all(nodes.map((n) => n.kill()));
    await nats.dispose();
    await data.dispose();
    throw error;
  }

  return {
    data,
    nats,
    nodes,
    start,
    running: () => nodes.filter((n) => !stopped.has(n) && n.child.signalCode === null),
    ownership: (sessionId) =>
      withDirectDb(data, async (db) => {
        const [row] = await db.sql.query(
          'SELECT owner_node, owner_epoch FROM sessions WHERE id = $1',
          [sessionId],
        );
        if (!row) throw new Error(`no session ${sessionId}`);
        return {
          owner_node: typeof row.owner_node === 'string' ? row.owner_node : null,
          owner_epoch: Number(row.owner_epoch),
        };
      }),
    verifyAll: () => runToEnd('src/cli.ts', ['verify', '--all'], data),
    async dispose() {
      for (const node of nodes) {
        // A stopped (SIGSTOP) process must be continued before it can die of a signal.
        if (node.child.exitCode === null) node.child.kill('SIGCONT');
      }
      await Promise.all(nodes.map((n) => n.kill()));
      await nats.dispose();
      await data.dispose();
    },
  };
}
