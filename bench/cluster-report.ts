import type { ClusterResult } from './cluster-phase.ts';
import { nodeId } from './cluster-nodes.ts';
import type { FlowRun } from './phases.ts';
import { phaseName } from './report.ts';
import { f0, f1, f2, f3, ratio, table } from './table.ts';

/** The issue's target: the sessions of a kill -9'ed node serving again within this. */
const FAILOVER_TARGET_MS = 2_000;

/** Flows on 3 nodes against 1 in the same run, then the failover figures. */
export function formatCluster(c: ClusterResult, runs: number): string {
  const out = [
    `\n== cluster (${c.nodes} nodes, PostgreSQL, NATS): ${c.label}, medians of ${runs} runs ==`,
  ];
  for (const { phase, single, sticky, anyNode } of c.flows) {
    const row = (figure: string, value: (m: FlowRun) => number, format: (n: number) => string) => {
      const one = single ? value(single) : NaN;
      const vs = (m: FlowRun) => ratio(value(m), one);
      return [
        figure,
        format(one),
        format(value(sticky.median)),
        vs(sticky.median),
        format(value(anyNode.median)),
        vs(anyNode.median),
      ];
    };
    out.push(
      table(
        [phaseName(phase), '1 node', '3 sticky', '3/1', '3 any node', '3/1'],
        [
          row('flows/s', (m) => m.flowsPerSec, f0),
          row('server CPU ms/flow (all nodes)', (m) => m.serverCpuPerFlow, f2),
          row(
            'server CPU busy (all nodes)',
            (m) => m.serverCpuShare * 100,
            (n) => `${f0(n)}%`,
          ),
          row('DB backends CPU ms/flow', (m) => m.dbCpuPerFlow, f2),
          row('DB transactions/flow', (m) => m.transactionsPerFlow, f3),
          row('exec→1st p99 ms', (m) => m.firstP99, f1),
          row('approve→complete p50 ms', (m) => m.completeP50, f1),
          row('approve→complete p99 ms', (m) => m.completeP99, f1),
          row('server RSS MiB (all nodes)', (m) => m.rssMiB, f0),
          row('failed sessions', (m) => m.failures, f0),
        ],
      ),
    );
    out.push('');
  }
  const f = c.failover.median;
  out.push(
    `failover: kill -9 of ${nodeId(0)} with ${f0(f.sessions)} sessions awaiting approval on it ` +
      `(lease ${f0(c.leaseMs)} ms); each approved over REST on ${nodeId(1)} right after the kill, ` +
      `watched by an SDK client on ${nodeId(1)} or ${nodeId(2)}; ms from the signal`,
  );
  out.push(
    table(
      ['figure', 'ms'],
      [
        [`no active session owned by ${nodeId(0)} (sessions.owner_node)`, f0(f.claimedMs)],
        ['every approval accepted (HTTP 200)', f0(f.approvedMs)],
        ['complete seen by the client, p50 of the sessions', f0(f.completeP50Ms)],
        ['complete seen by the client, the last session', f0(f.completeMaxMs)],
        ['sessions not complete (median over runs)', f0(f.failures)],
      ],
    ),
  );
  return out.join('\n');
}

/** Rows for the targets table (figure, run, target, measured, verdict). */
export function clusterTargets(c: ClusterResult): string[][] {
  const { completeMaxMs: ms, failures } = c.failover.median;
  const met = failures === 0 && ms <= FAILOVER_TARGET_MS;
  return [
    [
      "kill -9'ed node's sessions serving again (last complete)",
      c.label,
      `≤ ${FAILOVER_TARGET_MS / 1000} s`,
      failures > 0 ? `${f0(failures)} not complete` : `${f0(ms)} ms`,
      met ? 'met' : 'missed',
    ],
  ];
}
