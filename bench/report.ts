import type { FlowPhase } from './config.ts';
import type { LongPlanRun } from './long-plan.ts';
import type { FlowRun, IdleRun, PingRun } from './phases.ts';
import { f0, f1, f2, f3, ratio, table } from './table.ts';

export interface BackendResult {
  backend: string;
  flows: { phase: FlowPhase; median: FlowRun; runs: FlowRun[] }[];
  idle: { median: IdleRun; runs: IdleRun[] } | null;
  ping: PingRun | null;
  longPlan: LongPlanRun | null;
}

export const phaseName = (phase: FlowPhase) =>
  phase.rate === null
    ? `${phase.sessions} sessions, closed loop`
    : `${phase.sessions} sessions, paced ${phase.rate}/s`;

export function formatBackend(result: BackendResult, runs: number): string {
  const out: string[] = [`\n== ${result.backend} (medians of ${runs} runs) ==`];
  out.push(
    table(
      [
        'phase',
        'flows/s',
        'events/s',
        'connect p50/p95 ms',
        'exec→1st p50/p95/p99 ms',
        'approve→complete p50/p95/p99 ms',
      ],
      result.flows.map(({ phase, median: m }) => [
        phaseName(phase),
        f0(m.flowsPerSec),
        f0(m.eventsPerSec),
        `${f1(m.connectP50)} / ${f1(m.connectP95)}`,
        `${f1(m.firstP50)} / ${f1(m.firstP95)} / ${f1(m.firstP99)}`,
        `${f1(m.completeP50)} / ${f1(m.completeP95)} / ${f1(m.completeP99)}`,
      ]),
    ),
  );
  out.push('');
  out.push(
    table(
      [
        'phase',
        'server CPU ms/flow',
        'server CPU busy',
        'DB backends CPU ms/flow',
        'DB transactions/flow',
        'client CPU ms/flow',
        'server RSS MiB',
        'failed',
      ],
      result.flows.map(({ phase, median: m }) => [
        phaseName(phase),
        f2(m.serverCpuPerFlow),
        `${f0(m.serverCpuShare * 100)}%`,
        result.backend.startsWith('postgres') ? f2(m.dbCpuPerFlow) : '(in server)',
        result.backend.startsWith('postgres') ? f3(m.transactionsPerFlow) : '-',
        f2(m.clientCpuPerFlow),
        f0(m.rssMiB),
        f0(m.failures),
      ]),
    ),
  );
  if (result.idle) {
    const m = result.idle.median;
    out.push(
      `\nidle: ${f0(m.sessions)} sessions created at ${f0(m.sessionsPerSec)}/s; ${f0(m.sockets)} ` +
        `sockets over them connected at ${f0(m.connectPerSec)}/s (connect p50 ${f1(m.connectP50)} ms, p95 ${f1(m.connectP95)} ms)\n` +
        `  server RSS per idle socket +${f1(m.bytesPerSocket / 1024)} KiB, per session in memory ` +
        `+${f1(m.bytesPerSession / 1024)} KiB, total ${f0(m.rssMiB)} MiB`,
    );
  }
  if (result.longPlan) {
    const l = result.longPlan;
    out.push(
      `one ${f0(l.steps)}-step execution: ${f0(l.firstBytesPerEvent)} bytes written per stored ` +
        `event over its first 1%, ${f0(l.lastBytesPerEvent)} over its last 1% ` +
        `(${f2(l.lastBytesPerEvent / l.firstBytesPerEvent)}×); ${f1(l.totalMiB)} MiB in all, ` +
        `${f0(l.stepsPerSec)} steps/s`,
    );
  }
  if (result.ping) {
    const p = result.ping;
    out.push(
      `ping on one connection: ${f0(p.pipelinedPerSec)}/s pipelined (64 in flight), ` +
        `${f0(p.sequentialPerSec)}/s one at a time (rtt p50 ${f2(p.rttP50)} ms, p99 ${f2(p.rttP99)} ms)`,
    );
  }
  return out.join('\n');
}

/** uWS against portable on each backend: what the fast path buys, measured in the same run. */
export function formatTransports(results: BackendResult[]): string {
  const byBackend = new Map<string, Map<string, BackendResult>>();
  for (const result of results) {
    const [backend = '', transport = ''] = result.backend.split('/');
    if (!byBackend.has(backend)) byBackend.set(backend, new Map());
    byBackend.get(backend)!.set(transport, result);
  }
  const rows: string[][] = [];
  for (const [backend, transports] of byBackend) {
    const uws = transports.get('uws');
    const portable = transports.get('portable');
    if (!uws || !portable) continue;
    const closed = (r: BackendResult) => r.flows.find((f) => f.phase.rate === null)?.median;
    const a = closed(uws);
    const b = closed(portable);
    const idle = (r: BackendResult) => (r.idle ? r.idle.median.bytesPerSocket / 1024 : NaN);
    rows.push(
      [
        `${backend}: closed-loop flows/s`,
        f0(a?.flowsPerSec ?? NaN),
        f0(b?.flowsPerSec ?? NaN),
        ratio(a?.flowsPerSec ?? NaN, b?.flowsPerSec ?? NaN),
      ],
      [
        `${backend}: server CPU ms/flow`,
        f2(a?.serverCpuPerFlow ?? NaN),
        f2(b?.serverCpuPerFlow ?? NaN),
        ratio(b?.serverCpuPerFlow ?? NaN, a?.serverCpuPerFlow ?? NaN),
      ],
      [
        `${backend}: KiB per idle socket`,
        f1(idle(uws)),
        f1(idle(portable)),
        ratio(idle(portable), idle(uws)),
      ],
      [
        `${backend}: pings/s pipelined`,
        f0(uws.ping?.pipelinedPerSec ?? NaN),
        f0(portable.ping?.pipelinedPerSec ?? NaN),
        ratio(uws.ping?.pipelinedPerSec ?? NaN, portable.ping?.pipelinedPerSec ?? NaN),
      ],
    );
  }
  if (rows.length === 0) return '';
  return `\n== transports (medians; the ratio is how much better uWS does) ==\n${table(['figure', 'uws', 'portable', 'uws advantage'], rows)}`;
}

interface Target {
  figure: string;
  target: string;
  /** The measured value, formatted, and whether it meets the target; null when not measured. */
  check: (r: BackendResult) => { value: string; met: boolean } | null;
  /** Only for these backends (the figure means nothing on the others). */
  backends?: readonly string[];
}

const closedLoop = (r: BackendResult) =>
  r.flows.find((f) => f.phase.rate === null && f.phase.sessions === 200)?.median;
const paced = (r: BackendResult) =>
  r.flows.find((f) => f.phase.rate !== null && f.phase.sessions >= 1000)?.median;
const measured = (
  n: number | undefined,
  text: (n: number) => string,
  met: (n: number) => boolean,
) => (n === undefined || !Number.isFinite(n) ? null : { value: text(n), met: met(n) });

/** The performance issue's targets, each met or missed, per backend and transport. */
const TARGETS: Target[] = [
  {
    figure: 'flows/s, 200 sessions closed loop',
    target: '≥ 2,000 (PostgreSQL), ≥ 800 (PGlite)',
    check: (r) =>
      measured(
        closedLoop(r)?.flowsPerSec,
        f0,
        (n) => n >= (r.backend.startsWith('postgres') ? 2000 : 800),
      ),
  },
  {
    figure: 'server CPU per flow',
    target: '≤ 0.3 ms',
    backends: ['postgres'],
    check: (r) =>
      measured(
        closedLoop(r)?.serverCpuPerFlow,
        (n) => `${f2(n)} ms`,
        (n) => n <= 0.3,
      ),
  },
  {
    figure: 'PostgreSQL backend CPU per flow',
    target: '≤ 0.15 ms',
    backends: ['postgres'],
    check: (r) =>
      measured(
        closedLoop(r)?.dbCpuPerFlow,
        (n) => `${f2(n)} ms`,
        (n) => n <= 0.15,
      ),
  },
  {
    figure: 'transactions per flow',
    target: '≤ 0.1',
    backends: ['postgres'],
    check: (r) => measured(closedLoop(r)?.transactionsPerFlow, f3, (n) => n <= 0.1),
  },
  {
    figure: 'p99 approve → complete, 200 closed loop',
    target: '≤ 100 ms',
    check: (r) =>
      measured(
        closedLoop(r)?.completeP99,
        (n) => `${f1(n)} ms`,
        (n) => n <= 100,
      ),
  },
  {
    figure: 'p99 execute → first event, 1,000 paced',
    target: '< 10 ms',
    check: (r) =>
      measured(
        paced(r)?.firstP99,
        (n) => `${f1(n)} ms`,
        (n) => n < 10,
      ),
  },
  {
    figure: 'p99 approve → complete, 1,000 paced',
    target: '< 20 ms',
    check: (r) =>
      measured(
        paced(r)?.completeP99,
        (n) => `${f1(n)} ms`,
        (n) => n < 20,
      ),
  },
  {
    figure: 'bytes per stored event, last vs first 1% of a long execution',
    target: 'within 2×',
    check: (r) =>
      r.longPlan
        ? measured(
            r.longPlan.lastBytesPerEvent / r.longPlan.firstBytesPerEvent,
            (n) => `${f2(n)}×`,
            (n) => n <= 2,
          )
        : null,
  },
  {
    figure: 'RSS per idle socket',
    target: '≤ 16 KiB',
    check: (r) =>
      r.idle
        ? measured(
            r.idle.median.bytesPerSocket / 1024,
            (n) => `${f1(n)} KiB`,
            (n) => n <= 16,
          )
        : null,
  },
];

/** The targets table; `more` are rows measured elsewhere (the cluster phase), same columns. */
export function formatTargets(results: BackendResult[], more: string[][] = []): string {
  const rows: string[][] = [];
  for (const t of TARGETS) {
    for (const r of results) {
      if (t.backends && !t.backends.some((b) => r.backend.startsWith(b))) continue;
      const result = t.check(r);
      if (result)
        rows.push([t.figure, r.backend, t.target, result.value, result.met ? 'met' : 'missed']);
    }
  }
  rows.push(...more);
  if (rows.length === 0) return '';
  return `\n== targets ==\n${table(['figure', 'run', 'target', 'measured', ''], rows)}`;
}
