import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OutboundEvent } from '../protocol/outbound.ts';
import type { RuntimeObserver, SessionRuntime } from '../runtime/index.ts';
import type { ClusterView } from './cluster-view.ts';

/** What the socket hub and the HTTP handler report: plain calls, no metrics library. */
export interface ServerMeter {
  /** An error answered to a client: a REST answer, a socket `error` reply, a refused upgrade. */
  answered(code: string, status: number): void;
  /** An upgrade refused with this code (also counted by `answered`). */
  upgradeRefused(code: string, status: number): void;
  /** Frames handed to the transport for sockets (a topic broadcast counts once per socket). */
  framesSent(count: number): void;
}

/** What is read from the server on each scrape. */
export interface MetricsSources {
  runtime: Pick<SessionRuntime, 'statesInMemory' | 'pendingApprovalsInMemory'>;
  transport(): string;
  socketsOpen(): number;
  cluster?: ClusterView | undefined;
}

export interface ServerMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** Passed to the runtime's deps: commit latency, stored events, failed writes. */
  readonly observer: RuntimeObserver;
  readonly meter: ServerMeter;
  /** Binds the gauges read on scrape; done by createServer once runtime and hub exist. */
  bind(sources: MetricsSources): void;
  /** The Prometheus text of every metric. */
  scrape(): Promise<string>;
}

/** Refusals a limit causes, counted as `hitl_limit_refusals_total{kind}`. */
export const LIMIT_CODES: ReadonlySet<string> = new Set([
  'too_many_connections',
  'rate_limited',
  'quota_exceeded',
]);

/** Codes of a failing store (src/store/store-error.ts), counted when answered as a 5xx. */
export const STORE_CODES: ReadonlySet<string> = new Set([
  'store_closed',
  'store_query_failed',
  'store_unavailable',
  'seq_out_of_order',
  'unstorable_event',
]);

/** Stored event type -> the `outcome` of `hitl_approvals_decided_total`. */
export const DECISION_OUTCOMES: Readonly<Record<string, string>> = {
  approved: 'approved',
  rejected: 'rejected',
  edit_approved: 'edited',
  approval_expired: 'expired',
};

/** Seconds: from a fast PGlite write (~1 ms) to a stalled database. */
const COMMIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * One registry per server (never prom-client's global one, so servers in one process never
 * collide): Node's process metrics plus the runtime's own, all prefixed `hitl_`.
 */
export function createServerMetrics(): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let sources: MetricsSources | null = null;

  new Gauge({
    name: 'hitl_sockets_open',
    help: 'WebSocket connections open now',
    labelNames: ['transport'],
    registers,
    collect() {
      this.reset();
      if (sources) this.set({ transport: sources.transport() }, sources.socketsOpen());
    },
  });
  const upgradesRefused = new Counter({
    name: 'hitl_upgrades_refused_total',
    help: 'WebSocket upgrades refused, by error code',
    labelNames: ['code'],
    registers,
  });
  new Gauge({
    name: 'hitl_sessions_in_memory',
    help: 'Session actors held in memory, by state',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      if (!sources) return;
      for (const [state, count] of Object.entries(sources.runtime.statesInMemory()))
        this.set({ state }, count);
    },
  });
  const eventsStored = new Counter({
    name: 'hitl_events_stored_total',
    help: 'Session events stored (and then published by their session)',
    registers,
  });
  const eventsSent = new Counter({
    name: 'hitl_events_sent_total',
    help: 'Frames sent to sockets (events, replays, replies), one per socket',
    registers,
  });
  const commitSeconds = new Histogram({
    name: 'hitl_store_commit_seconds',
    help: "Atomic writes of a transition's events and snapshot, in seconds",
    buckets: COMMIT_BUCKETS,
    registers,
  });
  new Gauge({
    name: 'hitl_approvals_pending',
    help: 'Approval requests waiting for a decision in sessions held in memory',
    registers,
    collect() {
      this.set(sources ? sources.runtime.pendingApprovalsInMemory() : 0);
    },
  });
  const approvalsDecided = new Counter({
    name: 'hitl_approvals_decided_total',
    help: 'Approval requests decided (stored decision events), by outcome',
    labelNames: ['outcome'],
    registers,
  });
  const limitRefusals = new Counter({
    name: 'hitl_limit_refusals_total',
    help: 'Requests, messages and upgrades refused by a limit, by kind',
    labelNames: ['kind'],
    registers,
  });
  const passivations = new Counter({
    name: 'hitl_sessions_passivated_total',
    help: 'Idle session actors that left memory (passivated)',
    registers,
  });
  const restores = new Counter({
    name: 'hitl_sessions_restored_total',
    help: 'Session actors brought back from their stored snapshot (on demand or at start)',
    registers,
  });
  const cluster = () => sources?.cluster?.status();
  new Gauge({
    name: 'hitl_cluster_owned_sessions',
    help: 'Cluster mode: sessions this node owns and holds in memory',
    registers,
    collect() {
      this.set(cluster()?.owned_sessions ?? 0);
    },
  });
  new Gauge({
    name: 'hitl_cluster_followed_sessions',
    help: 'Cluster mode: sessions owned elsewhere whose events this node follows for its sockets',
    registers,
    collect() {
      this.set(cluster()?.followed_sessions ?? 0);
    },
  });
  const clusterCounts = {
    claims: 'Cluster mode: sessions this node claimed (epoch bumped)',
    forwarded: 'Cluster mode: commands forwarded to the owning node over NATS',
    served: 'Cluster mode: commands from other nodes applied here',
    takeovers: 'Cluster mode: active sessions of dead nodes taken over here',
    gap_fills: 'Cluster mode: events a follower read from the log (frames NATS lost)',
  } as const;
  for (const [name, help] of Object.entries(clusterCounts) as [
    keyof typeof clusterCounts,
    string,
  ][]) {
    new Counter({
      name: `hitl_cluster_${name}_total`,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(cluster()?.counters[name] ?? 0);
      },
    });
  }
  const storeErrors = new Counter({
    name: 'hitl_store_errors_total',
    help: 'Store failures: events not stored (commit), store errors answered as 5xx (request)',
    labelNames: ['where'],
    registers,
  });

  const meter: ServerMeter = {
    answered(code, status) {
      if (LIMIT_CODES.has(code)) limitRefusals.inc({ kind: code });
      if (status >= 500 && STORE_CODES.has(code)) storeErrors.inc({ where: 'request' });
    },
    upgradeRefused(code, status) {
      upgradesRefused.inc({ code });
      meter.answered(code, status);
    },
    framesSent: (count) => eventsSent.inc(count),
  };

  const observer: RuntimeObserver = {
    commit: (ms) => commitSeconds.observe(ms / 1000),
    stored(events: readonly OutboundEvent[]) {
      eventsStored.inc(events.length);
      for (const event of events) {
        const outcome = DECISION_OUTCOMES[event.type];
        if (outcome) approvalsDecided.inc({ outcome });
      }
    },
    storeError: () => storeErrors.inc({ where: 'commit' }),
    passivated: () => passivations.inc(),
    restored: () => restores.inc(),
  };

  return {
    registry,
    contentType: registry.contentType,
    observer,
    meter,
    bind(bound) {
      sources = bound;
    },
    scrape: () => registry.metrics(),
  };
}
