import type { BenchConfig, FlowPhase } from './config.ts';
import {
  CLUSTER_LEASE_MS,
  CLUSTER_NODES,
  clusterMissing,
  nodeId,
  startCluster,
  type BenchCluster,
} from './cluster-nodes.ts';
import { failoverRun, type FailoverRun } from './failover.ts';
import { runFlowPhases, type FlowPhaseResult } from './flow-phases.ts';
import type { FlowRun } from './phases.ts';
import type { BackendResult } from './report.ts';
import { prepareStorage } from './server-process.ts';
import { medianOf } from './stats.ts';
import type { Worker } from './workers.ts';

export interface ClusterFlows {
  phase: FlowPhase;
  /** The same phase on one node in the same run (PostgreSQL, same transport), if it ran. */
  single: FlowRun | null;
  /** Each session's socket on the node that owns it. */
  sticky: FlowPhaseResult;
  /** Each session's socket on the next node: every command forwarded, every event over NATS. */
  anyNode: FlowPhaseResult;
}

export interface ClusterResult {
  label: string;
  nodes: number;
  leaseMs: number;
  flows: ClusterFlows[];
  failover: { median: FailoverRun; runs: FailoverRun[] };
}

/**
 * The cluster phase of `npm run bench`, after the single-node ones: 3 nodes on a fresh
 * PostgreSQL database with a nats-server of the bench's own; the closed-loop phases sticky
 * and across nodes, then kill -9 failover runs. Null (and one line saying why) where it
 * cannot run.
 */
export async function clusterPhase(
  config: BenchConfig,
  workers: Worker[],
  singleNode: readonly BackendResult[],
): Promise<ClusterResult | null> {
  const missing = clusterMissing(config);
  if (missing) {
    console.log(`\ncluster phase skipped: ${missing}`);
    return null;
  }
  const transport = config.transports[0] ?? 'portable';
  const label = `postgres/${transport}, ${CLUSTER_NODES} nodes`;
  const storage = await prepareStorage('postgres', config);
  try {
    const cluster = await startCluster(storage, { entry: config.serverEntry, transport });
    console.log(
      `\n${label}: pids ${cluster.nodes.map((n) => n.pid).join(', ')} at ` +
        `${cluster.nodes.map((n) => n.url).join(', ')} (lease ${CLUSTER_LEASE_MS} ms)`,
    );
    try {
      const closed = config.phases.filter((phase) => phase.rate === null);
      const servers = cluster.nodes;
      const sticky = await runFlowPhases(
        { servers, connectOffset: 0 },
        closed,
        config,
        workers,
        ', sticky',
      );
      const anyNode = await runFlowPhases(
        { servers, connectOffset: 1 },
        closed,
        config,
        workers,
        ', any node',
      );
      const single = singleNode.find((r) => r.backend === `postgres/${transport}`);
      const flows = closed.map((phase, i) => ({
        phase,
        single: single?.flows.find((f) => f.phase === phase)?.median ?? null,
        sticky: sticky[i]!,
        anyNode: anyNode[i]!,
      }));
      const failover = await failoverRuns(cluster, storage.env.DATABASE_URL, config);
      return { label, nodes: CLUSTER_NODES, leaseMs: CLUSTER_LEASE_MS, flows, failover };
    } finally {
      await cluster.stop();
    }
  } finally {
    await storage.dispose();
  }
}

/** `config.runs` kill -9 runs of node 0, started again (same NODE_ID) between them. */
async function failoverRuns(cluster: BenchCluster, databaseUrl: string, config: BenchConfig) {
  const runs: FailoverRun[] = [];
  for (let run = 1; run <= config.runs; run += 1) {
    if (run > 1) await cluster.start(0);
    const { run: result, refused } = await failoverRun(
      cluster,
      databaseUrl,
      config.failoverSessions,
      config.connectConcurrency,
    );
    const refusals = [...refused].map(([code, n]) => `${code} ×${n}`).join(', ');
    console.log(
      `  failover, run ${run}: kill -9 of ${nodeId(0)} with ${result.sessions} sessions awaiting ` +
        `approval: claimed in ${Math.round(result.claimedMs)} ms, approvals accepted in ` +
        `${Math.round(result.approvedMs)} ms, complete p50 ${Math.round(result.completeP50Ms)} ms, ` +
        `all ${Math.round(result.completeMaxMs)} ms` +
        (result.failures > 0 ? `, ${result.failures} not complete` : '') +
        (refusals ? ` (approvals refused first: ${refusals})` : ''),
    );
    runs.push(result);
  }
  return { median: medianOf(runs), runs };
}
