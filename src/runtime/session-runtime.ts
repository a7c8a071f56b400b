import type { Logger } from 'pino';
import type { SessionCommandEvent } from '../../machines/session.events.ts';
import {
  SESSION_MACHINE_VERSION,
  sessionStates,
  type SessionState,
} from '../../machines/session.types.ts';
import type { Planner } from '../agent/planner.ts';
import { describeTool, type ToolDescription } from '../agent/tool-catalog.ts';
import type { ToolRegistry } from '../agent/tool-registry.ts';
import { accepts } from './session-events.ts';
import { AppError } from '../errors.ts';
import { storeUnavailable } from '../store/store-error.ts';
import type { Command } from '../protocol/inbound.ts';
import type {
  ApprovalRecord,
  ApprovalStatus,
  ChainVerification,
  SessionListQuery,
  SessionPage,
  SessionRecord,
  Store,
  StoredEvent,
} from '../store/store.ts';
import { sessionMachine } from '../../machines/session.machine.ts';
import { systemClock, type Clock } from './clock.ts';
import { describeStatechart, type Statechart } from './statechart-graph.ts';
import { decide, failedWrite, notAllowed, type DecisionCommand } from './decisions.ts';
import { newId } from './ids.ts';
import { joinSnapshot, partsNamed } from './snapshot-parts.ts';
import { reconcileRestored } from './restore.ts';
import { createSessionLogic } from './session-logic.ts';
import { startSessionHost, type SessionHost } from './session-host.ts';
import { guardObserver, type RuntimeObserver } from './runtime-observer.ts';
import { createExpiryScheduler } from './expiry-scheduler.ts';
import { idleRule, SessionRetired } from './passivation.ts';
import { createPassivator } from './passivator.ts';
import type { Placement, ReleaseReason } from './placement.ts';
import { withBallots } from './ballots.ts';
import type { Ballots } from './session-service.ts';

export interface SessionRuntimeDeps {
  store: Store;
  planner: Planner;
  registry: ToolRegistry;
  logger: Logger;
  clock?: Clock;
  approvalTtlMs?: number;
  /**
   * An idle session actor (no socket, nothing running, no approval due within a second) leaves
   * memory after this long, and comes back from its snapshot on its next use. 0 or unset: never.
   */
  passivateAfterMs?: number;
  /** Plain callbacks for metrics (commit latency, stored events, failed writes). */
  observe?: Partial<RuntimeObserver> | undefined;
  /** Cluster mode: which sessions this node may load (see placement.ts). Unset: all. */
  placement?: Placement | undefined;
}

export interface SessionRuntime {
  readonly store: Store;
  createSession(owner: string): Promise<SessionHost>;
  /** The live session, restored from its snapshot when it is not in memory; undefined if none. */
  getSession(id: string): Promise<SessionHost | undefined>;
  /**
   * Sends a validated command as `by` (with the roles of its token, which approval policies
   * read). Throws an AppError the caller answers with.
   */
  send(sessionId: string, command: Command, by: string, roles?: readonly string[]): Promise<void>;
  getApproval(requestId: string): Promise<ApprovalRecord | undefined>;
  /** Approval records with the live ballot of each pending one, as the voter sees it. */
  ballots: Ballots;
  /** The owner of a session, without loading its actor. */
  getSessionOwner(id: string): Promise<string | undefined>;
  /** The audit log: stored events with seq > afterSeq. */
  readEvents(sessionId: string, afterSeq: number, limit: number): Promise<StoredEvent[]>;
  listApprovals(filter: {
    status?: ApprovalStatus;
    session_id?: string;
  }): Promise<ApprovalRecord[]>;
  /** A page of stored sessions, newest first (from the store: live and passivated alike). */
  listSessions(query: SessionListQuery): Promise<SessionPage>;
  /** The session's hash-chain verification over its stored events. */
  verifyChain(sessionId: string): Promise<ChainVerification>;
  /** The registered tools, with their args as JSON Schema. */
  tools(): ToolDescription[];
  /** The session machine's states and transitions, read from its definition. */
  statechart(): Statechart;
  /**
   * Called when a session's host is dropped because an event could not be stored: whoever
   * holds it (a socket) lets go; the next getSession restores it from its stored snapshot.
   */
  onSessionLost(listener: (sessionId: string, why: ReleaseReason) => void): () => void;
  /** Restores every session that was mid-flight when the process stopped. */
  restoreActive(): Promise<number>;
  activeCount(): number;
  /** True while the session's actor is in memory (or being loaded into it). */
  inMemory(id: string): boolean;
  /**
   * Passivates every session idle by the rule now, as the periodic sweep does; resolves with
   * how many left memory (0 when passivation is off).
   */
  passivateIdle(): Promise<number>;
  /**
   * Cluster mode: drops the session's host at once, writing nothing more (another node owns
   * it now); its sockets hear it through onSessionLost ('moved').
   */
  release(id: string): void;
  /** The ids of the sessions in memory here. */
  hosted(): string[];
  /** Sessions of `owner` held here that have not ended (complete, cancelled, failed). */
  liveSessionsOf(owner: string): number;
  /** How many sessions held in memory are in each state (every state, zeros included). */
  statesInMemory(): Record<SessionState, number>;
  /** Approval requests waiting for a decision in the sessions held in memory. */
  pendingApprovalsInMemory(): number;
  close(): Promise<void>;
}

const ENDED = new Set(['complete', 'cancelled', 'failed']);

/** A write refused because another node owns the session now (its epoch moved on). */
function isMoved(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === 'session_moved';
}

export function createSessionRuntime(deps: SessionRuntimeDeps): SessionRuntime {
  const { store, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const hosts = new Map<string, SessionHost>();
  const loading = new Map<string, Promise<SessionHost | undefined>>();
  const lostListeners = new Set<(sessionId: string, why: ReleaseReason) => void>();
  const { placement } = deps;
  const observe = guardObserver(deps.observe, logger);
  let closed = false;
  const passivateAfterMs = deps.passivateAfterMs ?? 0;
  const rule = passivateAfterMs > 0 ? idleRule(passivateAfterMs) : null;
  const expiries =
    rule &&
    createExpiryScheduler({
      store,
      clock,
      logger,
      leadMs: rule.leadMs,
      inMemory: (id) => hosts.has(id) || loading.has(id),
      restore: (id) => getSession(id),
    });
  const passivator =
    rule &&
    createPassivator({
      hosts,
      clock,
      rule,
      logger,
      observe,
      left: (left, deadlines) => {
        for (const at of deadlines) expiries?.notice(at);
        placement?.released(left.id, 'passivated');
      },
    });

  const logic = createSessionLogic({
    planner: deps.planner,
    registry: deps.registry,
    store,
    clock,
    approvalTtlMs: deps.approvalTtlMs ?? 15 * 60_000,
    logger,
    streams: {
      delta: (sessionId, executionId, messageId, text) =>
        hosts.get(sessionId)?.streamDelta(executionId, messageId, text),
      end: (sessionId) => hosts.get(sessionId)?.streamEnd(),
    },
    async started(sessionId, callId) {
      const host = hosts.get(sessionId);
      await host?.flush();
      if (host?.isBroken()) throw new Error(`session ${sessionId} could not be stored`);
      return host?.startedHere(callId) ?? false;
    },
    expire: async (sessionId, requestId, escalate) => {
      const host = hosts.get(sessionId);
      if (!host) return false;
      return host.serial(async () => {
        if (escalate) {
          escalate();
          return false;
        }
        const result = await store.decideApproval({
          request_id: requestId,
          session_id: sessionId,
          status: 'expired',
          decided_by: 'system',
          decided_at: new Date(clock.now()).toISOString(),
          decision_reason: 'expired',
        });
        return result.ok;
      });
    },
  });

  const recordsCalls = (tool: string) => deps.registry.get(tool)?.idempotent === false;

  function host(record: SessionRecord): SessionHost {
    if (record.snapshot !== null && record.machine_version !== SESSION_MACHINE_VERSION) {
      throw new AppError(
        'machine_version_mismatch',
        `session ${record.id} was saved by machine version ${record.machine_version}; this server runs ${SESSION_MACHINE_VERSION}`,
        409,
      );
    }
    const started = startSessionHost(
      {
        store,
        logic,
        clock,
        logger,
        observe,
        recordsCalls,
        onBroken: () => lose(record.id, started),
      },
      record,
    );
    hosts.set(record.id, started);
    placement?.hosted(started);
    return started;
  }

  /**
   * A host that cannot store its events stops at once; its session comes back from its
   * snapshot on demand, or by itself once the store answers again (restoreLater). Its holders
   * hear of it after the command that broke it has had its answer.
   */
  function lose(id: string, broken: SessionHost): void {
    const why = isMoved(broken.failure()) ? 'moved' : 'lost';
    drop(id, broken, why);
    if (why === 'lost') restoreLater(id);
  }

  /**
   * Takes a host out of memory at once and stops it: after a failed write, or because another
   * node owns the session now (its write was fenced, or this node's lease ran out).
   */
  function drop(id: string, gone: SessionHost, why: 'moved' | 'lost'): void {
    if (hosts.get(id) !== gone) return;
    hosts.delete(id);
    if (why === 'moved') logger.info({ sessionId: id }, 'session moved to another node');
    else
      logger.warn({ sessionId: id }, 'session dropped after a failed write; it will be restored');
    gone.stop().catch(() => undefined);
    placement?.released(id, why);
    setImmediate(() => {
      for (const listener of lostListeners) listener(id, why);
    });
  }

  /**
   * Brings a dropped session back without waiting for a client: its timers (approval expiry)
   * and the work it was doing go on. Retried with backoff while the store is unreachable.
   */
  function restoreLater(id: string, attempt = 0): void {
    const delay = Math.min(250 * 2 ** attempt, 10_000);
    const timer = setTimeout(() => {
      if (closed || hosts.has(id)) return;
      getSession(id).catch((error: unknown) => {
        logger.warn({ err: error, sessionId: id, attempt }, 'session not restored yet; retrying');
        restoreLater(id, attempt + 1);
      });
    }, delay);
    timer.unref();
  }

  /** `known`: the record, when the caller already read it (restore at start). */
  async function load(id: string, known?: SessionRecord): Promise<SessionHost | undefined> {
    // Owned here first, then read: no write of a former owner can follow the read.
    if (placement) await placement.acquire(id);
    const stored = (placement ? undefined : known) ?? (await store.getSession(id));
    if (!stored) return undefined;
    const parts = await store.readSnapshotParts(id, partsNamed(stored.snapshot));
    const record = { ...stored, snapshot: joinSnapshot(stored.snapshot, parts) };
    const pending = await store.listApprovals({ status: 'pending', session_id: id });
    // last_seq is written in the statement that appends the events, so it is the log's.
    const restored = host(record);
    observe.restored();
    await restored.serial(() => reconcileRestored(restored, store, pending, logger));
    return restored;
  }

  async function getSession(id: string, known?: SessionRecord): Promise<SessionHost | undefined> {
    // Leaving memory now: wait, then take the host that stayed or load a fresh one.
    const leaving = passivator?.leaving(id);
    if (leaving) await leaving;
    const live = hosts.get(id);
    if (live && !live.isBroken()) {
      live.touch();
      return live;
    }
    if (live) {
      hosts.delete(id);
      logger.warn({ sessionId: id }, 'restoring a session whose events could not be stored');
      await live.stop().catch(() => undefined);
    }
    let pending = loading.get(id);
    if (!pending) {
      pending = load(id, live ? undefined : known).finally(() => loading.delete(id));
      loading.set(id, pending);
    }
    return pending;
  }

  function toEvent(command: Exclude<Command, DecisionCommand>, by: string): SessionCommandEvent {
    if (command.type === 'execute') {
      const { type, command: text, plan } = command;
      return { type, command: text, ...(plan ? { plan } : {}), execution_id: newId('exec'), by };
    }
    const { type, execution_id } = command;
    return { type, ...(execution_id !== undefined ? { execution_id } : {}), by };
  }

  async function sendOnce(
    sessionId: string,
    command: Command,
    by: string,
    roles: readonly string[],
  ): Promise<void> {
    // Refused before it changes anything: a transition now could not be stored.
    if (!store.isAvailable()) throw storeUnavailable('the last query could not reach it');
    const session = await getSession(sessionId);
    if (!session) throw new AppError('session_not_found', `no session ${sessionId}`, 404);
    if (command.type === 'approve' || command.type === 'reject' || command.type === 'edit') {
      return decide({ session, store, registry: deps.registry, clock }, command, {
        user_id: by,
        roles,
      });
    }
    const { stored } = await session.serial(async () => {
      await session.flush();
      const event = toEvent(command, by);
      if (!accepts(session.root, event)) {
        throw notAllowed(command.type, session.state(), { state: session.state() });
      }
      if (event.type === 'cancel') {
        // Pending approvals die with the execution: a late approve must find them decided.
        for (const pending of session.pendingApprovals()) {
          await store.decideApproval({
            request_id: pending.request_id,
            session_id: sessionId,
            status: 'cancelled',
            decided_by: by,
            decided_at: new Date(clock.now()).toISOString(),
            decision_reason: 'execution cancelled',
          });
        }
      }
      session.root.send(event);
      return { stored: session.written() };
    });
    // Its first events are stored before the command counts as taken: if they cannot be, the
    // sender hears why (the session is restored from its snapshot, without it). Awaited out
    // of the session's queue, so a cancel right behind it is not held up.
    await stored;
    if (session.isBroken()) throw failedWrite(session.failure());
  }

  return {
    store,
    async createSession(owner) {
      const id = newId('ses');
      const record = await store.createSession({
        id,
        owner,
        state: 'idle',
        machine_version: SESSION_MACHINE_VERSION,
        ...(placement ? { owner_node: placement.nodeId } : {}),
      });
      return host(record);
    },
    getSession: (id) => getSession(id),
    async send(sessionId, command, by, roles = []) {
      // A host passivated between its lookup and its turn took nothing: look it up again.
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await sendOnce(sessionId, command, by, roles);
        } catch (error) {
          if (!(error instanceof SessionRetired) || attempt >= 3) throw error;
        }
      }
    },
    getApproval: (requestId) => store.getApproval(requestId),
    ballots: (approvals, voter) => withBallots(approvals, (id) => getSession(id), voter),
    getSessionOwner: async (id) => hosts.get(id)?.owner ?? (await store.getSession(id))?.owner,
    readEvents: (sessionId, afterSeq, limit) => store.readEvents(sessionId, afterSeq, limit),
    listApprovals: (filter) => store.listApprovals(filter),
    listSessions: (query) => store.listSessions(query),
    verifyChain: (sessionId) => store.verifyChain(sessionId),
    tools: () => deps.registry.list().map(describeTool),
    statechart: () => describeStatechart(sessionMachine),
    async restoreActive() {
      const records = await store.listActiveSessions();
      let restored = 0;
      for (const record of records) {
        if (hosts.has(record.id)) continue;
        try {
          await getSession(record.id, record);
          restored += 1;
        } catch (error) {
          logger.error({ err: error, sessionId: record.id }, 'session not restored');
        }
      }
      // Pending approvals of sessions not in memory (none restored here) expire on time too.
      void expiries?.scan();
      return restored;
    },
    onSessionLost(listener) {
      lostListeners.add(listener);
      return () => void lostListeners.delete(listener);
    },
    activeCount: () => hosts.size,
    inMemory: (id) => hosts.has(id) || loading.has(id),
    passivateIdle: () => passivator?.sweep() ?? Promise.resolve(0),
    liveSessionsOf(owner) {
      let live = 0;
      for (const host of hosts.values()) {
        if (host.owner === owner && !ENDED.has(host.state())) live += 1;
      }
      return live;
    },
    statesInMemory() {
      const counts = Object.fromEntries(sessionStates.map((s) => [s, 0])) as Record<
        SessionState,
        number
      >;
      for (const host of hosts.values()) counts[host.state()] += 1;
      return counts;
    },
    pendingApprovalsInMemory() {
      let pending = 0;
      for (const host of hosts.values()) pending += host.pendingApprovals().length;
      return pending;
    },
    release(id) {
      const held = hosts.get(id);
      if (held) drop(id, held, 'moved');
    },
    hosted: () => [...hosts.keys()],
    async close() {
      closed = true;
      expiries?.close();
      await passivator?.close();
      await Promise.all([...hosts.values()].map((h) => h.stop()));
      for (const id of hosts.keys()) placement?.released(id, 'closed');
      hosts.clear();
    },
  };
}
