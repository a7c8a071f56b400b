import type { Logger } from 'pino';
import { createActor, type AnyActorRef } from 'xstate';
import type { SessionEmitted } from '../../machines/session.emitted.ts';
import { SESSION_MACHINE_VERSION, type SessionState } from '../../machines/session.types.ts';
import type { OutboundEvent, PendingApproval } from '../protocol/outbound.ts';
import type {
  ApprovalRecord,
  ExecutionRecord,
  Store,
  ToolStartRecord,
  TransitionRows,
} from '../store/store.ts';
import type { Clock } from './clock.ts';
import type { SessionLogic } from './session-logic.ts';
import { snapshotOf, subagentIdOf, subagentOf, toOutbound, topState } from './session-events.ts';
import { createEventFanout, type EventListener, type ReplayPace } from './event-fanout.ts';
import { createMessageStream, type DeltaFrame } from './message-stream.ts';
import type { RuntimeObserver } from './runtime-observer.ts';
import { ledgerOf, splitSnapshot } from './snapshot-parts.ts';
import { SessionRetired } from './passivation.ts';

export interface SessionHostDeps {
  store: Store;
  logic: SessionLogic;
  clock: Clock;
  logger: Logger;
  /**
   * Whether a tool's calls are recorded by call id (it is not idempotent): their start goes in
   * with the `tool_call`, their outcome with the `tool_result` or error that ends them.
   */
  recordsCalls?: (tool: string) => boolean;
  /** Called once, when an event could not be stored: this host sends nothing more. */
  onBroken?: () => void;
  /** Commit latency, stored events and failed writes, for metrics (guarded by the runtime). */
  observe?: RuntimeObserver;
}

export interface SessionHost {
  readonly id: string;
  readonly owner: string;
  readonly root: AnyActorRef;
  state(): SessionState;
  /** True once an event could not be stored: the runtime replaces this host. */
  isBroken(): boolean;
  /** Why it broke (the store's error), once it has. */
  failure(): unknown;
  /** The seq of the last event stored and sent. */
  lastSeq(): number;
  pendingApprovals(): PendingApproval[];
  /** The actor (the session or one of its subagents) that holds a pending request. */
  actorForRequest(requestId: string): AnyActorRef | undefined;
  /** Streamed planner text (not stored), coalesced; see message-stream.ts. */
  streamDelta(executionId: string, messageId: string, text: string): void;
  /** The planner step is over: its last text goes out, and the message is no longer current. */
  streamEnd(): void;
  /**
   * Each `message_delta`, once every event stored before it is sent: streamed text never
   * overtakes the `thinking` it belongs to, nor trails the `message` that ends it.
   */
  onDelta(listener: EventListener): () => void;
  /** The text sent so far of the message streaming now, as one `message_delta`; or null. */
  streaming(): OutboundEvent | null;
  /** Live events, after replaying stored ones with seq > afterSeq (no gap, no duplicate). */
  subscribe(
    afterSeq: number,
    listener: EventListener,
    onLive?: () => void,
    pace?: ReplayPace,
  ): Promise<() => void>;
  /**
   * Runs fn after every earlier command of this session: decisions never interleave. Once the
   * host is retired, fn does not run: the call rejects with SessionRetired.
   */
  serial<T>(fn: () => Promise<T>): Promise<T>;
  /** Keeps the session in memory (a socket on it) until the returned release is called. */
  hold(): () => void;
  holders(): number;
  /** When it was last used (looked up, released) or moved (a transition), clock ms. */
  activeAt(): number;
  touch(): void;
  /** Passivation, from inside `serial`: stored to the last event, stopped, refusing more. */
  retire(): Promise<void>;
  isRetired(): boolean;
  /** Resolves when every event and write so far is durable. */
  flush(): Promise<void>;
  /**
   * True when this host stored the start of the call (with its `tool_call`): the call is new
   * and may run. A restored host never did, so the call's stored outcome decides instead.
   */
  startedHere(callId: string): boolean;
  /**
   * Resolves when the writes begun so far are done, not the ones the transitions after them
   * begin (which flush waits for too): a command's own events, without queueing behind its
   * consequences.
   */
  written(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * One session's actor and its bookkeeping: what the statechart emits becomes numbered wire
 * events, stored (with the approvals and executions they imply) before they are sent.
 */
export function startSessionHost(
  deps: SessionHostDeps,
  session: { id: string; owner: string; snapshot: unknown; last_seq: number },
): SessionHost {
  const { store, clock } = deps;
  const log = deps.logger.child({ sessionId: session.id });
  let seq = session.last_seq;
  let writes: Promise<unknown> = Promise.resolve();
  let queue: Promise<unknown> = Promise.resolve();
  let executionStartedAt: string | null = null;
  let broken = false;
  let retired = false;
  let holds = 0;
  let activeAt = clock.now();
  let failure: unknown;
  /** Events of the transitions not written yet, written with the snapshot and rows they imply. */
  let pending: OutboundEvent[] = [];
  /** A transition happened since the last write; a write is scheduled for the tick's end. */
  let dirty = false;
  let scheduled = false;
  let approvals: ApprovalRecord[] = [];
  let executions: ExecutionRecord[] = [];
  let toolStarts: ToolStartRecord[] = [];
  let toolOutcomes: NonNullable<TransitionRows['toolOutcomes']>[number][] = [];
  /** Calls whose start this host's writes recorded, the call id new to the store (startedHere). */
  const startedCalls = new Set<string>();
  /** The call each pending non-idempotent call id names, until its outcome is recorded. */
  const openCalls = new Map<string, string>();
  const fanout = createEventFanout(session.id, store, session.last_seq);
  const stream = createMessageStream(clock);
  const deltaListeners = new Set<EventListener>();
  /** What the delta listeners were given of the message streaming now. */
  let streamed: DeltaFrame | null = null;
  // `writes` only ever grows by chaining and never rejects, so deliveries keep their order.
  stream.onFrame((frame) => {
    // The events before this text are stored and sent first.
    if (dirty || pending.length > 0) write();
    void writes.then(() => {
      streamed =
        streamed?.message_id === frame.message_id
          ? { ...streamed, delta: streamed.delta + frame.delta }
          : { ...frame };
      const event = deltaEvent(frame);
      for (const listener of deltaListeners) listener(event);
    });
  });

  function deltaEvent(frame: DeltaFrame): OutboundEvent {
    return {
      type: 'message_delta',
      session_id: session.id,
      seq: fanout.lastSeq(),
      timestamp: new Date(clock.now()).toISOString(),
      state: topState(snapshotOf(root).value),
      execution_id: frame.execution_id,
      data: { message_id: frame.message_id, delta: frame.delta },
    };
  }

  const root = createActor(deps.logic, {
    input: { session_id: session.id },
    ...(session.snapshot ? { snapshot: session.snapshot as never } : {}),
  });
  /** What of the snapshot's plan and history is stored already (it came from storage). */
  const ledger = ledgerOf(session.snapshot);

  function record(emitted: SessionEmitted, actor: AnyActorRef, subagentId: string | null): void {
    const rootContext = snapshotOf(root).context;
    const event = toOutbound(
      emitted,
      {
        session_id: session.id,
        seq: ++seq,
        timestamp: new Date(clock.now()).toISOString(),
        state: topState(snapshotOf(root).value),
        execution_id: rootContext.execution_id ?? emitted.execution_id,
      },
      subagentId,
    );
    if (broken) return;
    pending.push(event);
    rowsOf(event, subagentId);
    if (emitted.type === 'subagent_start') {
      const child = subagentOf(actor);
      if (child) attach(child, emitted.data.subagent_id);
    }
  }

  /** The rows an event implies, written in the same atomic write as the event. */
  function rowsOf(event: OutboundEvent, subagentId: string | null): void {
    toolRowsOf(event);
    if (event.type === 'approval_required') {
      approvals.push({
        ...event.data,
        session_id: session.id,
        execution_id: event.execution_id ?? '',
        edited_args: null,
        status: 'pending',
        decided_by: null,
        decided_at: null,
        decision_reason: null,
        created_at: event.timestamp,
        subagent_id: subagentId,
      });
      return;
    }
    if (subagentId !== null) return;
    const context = snapshotOf(root).context;
    if (event.type === 'thinking') executionStartedAt = event.timestamp;
    const ends =
      event.type === 'complete' ||
      event.type === 'cancelled' ||
      (event.type === 'error' && event.state === 'failed');
    if (event.type === 'thinking' || ends) {
      executions.push({
        execution_id: context.execution_id ?? '',
        session_id: session.id,
        command: context.command ?? '',
        started_by: context.executed_by ?? '',
        state: event.state,
        started_at: executionStartedAt ?? event.timestamp,
        ended_at: ends ? event.timestamp : null,
      });
    }
  }

  /** A non-idempotent call's start and outcome rows, from the events that start and end it. */
  function toolRowsOf(event: OutboundEvent): void {
    if (event.type === 'tool_call' && deps.recordsCalls?.(event.data.tool)) {
      const { call_id, tool, args } = event.data;
      toolStarts.push({ status: 'started', call_id, tool, args, session_id: session.id });
      openCalls.set(call_id, tool);
      return;
    }
    if (event.type === 'tool_result' && openCalls.has(event.data.call_id)) {
      const { call_id, tool, result } = event.data;
      toolOutcomes.push({ status: 'succeeded', call_id, tool, result });
      openCalls.delete(call_id);
      startedCalls.delete(call_id);
      return;
    }
    if (event.type === 'error' && event.data.code === 'tool_failed') {
      const callId = event.data.call_id;
      const tool = callId === undefined ? undefined : openCalls.get(callId);
      if (callId === undefined || tool === undefined) return;
      toolOutcomes.push({ status: 'failed', call_id: callId, tool, error: event.data.message });
      openCalls.delete(callId);
      startedCalls.delete(callId);
    }
  }

  function attach(actor: AnyActorRef, subagentId: string | null): void {
    actor.on('*', (emitted: SessionEmitted) => record(emitted, actor, subagentId));
    // A subagent's transitions do not notify the root's observers, yet its state is part of
    // the root's snapshot: save on them too (its errors reach the parent as events).
    if (actor !== root) actor.subscribe({ next: commit, error: () => undefined });
    const child = subagentOf(actor);
    if (child) attach(child, subagentIdOf(child));
  }

  /**
   * After each transition (of the session or a subagent): the write of its events waits for
   * the rest of the tick, so transitions that follow at once (a planner that answers at once,
   * a tool result and the next step) share one write and one snapshot. Whoever must know the
   * transitions stored (a decision's answer, a tool about to start, streamed text) writes them
   * at once (`flush`, `written`).
   */
  function commit(): void {
    activeAt = clock.now();
    dirty = true;
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (dirty) write();
    });
  }

  /**
   * The events so far and the snapshot that follows them go to the store in one atomic write,
   * then out to subscribers. A crash can therefore never leave the stored snapshot ahead of the
   * log, nor the log ahead of it.
   */
  function write(): void {
    dirty = false;
    const events = pending;
    const made = { approvals, executions, toolStarts, toolOutcomes };
    pending = [];
    approvals = [];
    executions = [];
    toolStarts = [];
    toolOutcomes = [];
    if (broken) return;
    // Its plan and history go in once, as rows of their own; the snapshot names them.
    const split = splitSnapshot(session.id, root.getPersistedSnapshot(), ledger);
    const rows = { ...made, parts: split.parts };
    const snapshot = {
      session_id: session.id,
      state: topState(snapshotOf(root).value),
      snapshot: split.snapshot,
      machine_version: SESSION_MACHINE_VERSION,
    };
    const started = performance.now();
    const stored = store
      .appendEvents(events, snapshot, rows)
      .then((result) => {
        for (const callId of result.startedCalls) startedCalls.add(callId);
      })
      .finally(() => {
        deps.observe?.commit(performance.now() - started);
      });
    // An event that cannot be stored is never sent, and nothing after it is either: the
    // session stops here and the runtime restores it from its last stored snapshot.
    writes = Promise.all([writes, stored])
      .then(() => {
        if (broken) return;
        if (events.length > 0) deps.observe?.stored(events);
        for (const event of events) fanout.publish(event);
      })
      .catch((error: unknown) => {
        if (broken) return;
        broken = true;
        failure = error;
        deps.observe?.storeError();
        log.error(
          { err: error, seq: events[0]?.seq },
          'events not stored; the session will be restored',
        );
        deps.onBroken?.();
      });
  }

  attach(root, null);
  root.subscribe({
    next: commit,
    error: (err: unknown) => log.error({ err }, 'session actor failed'),
  });
  root.start();
  // Starting emits nothing new: the snapshot it begins from is the stored one (or, for a new
  // session, the initial state every restore of a snapshot-less session begins from).
  if (pending.length === 0) dirty = false;

  function pendingOf(actor: AnyActorRef, subagentId: string | null, out: PendingApproval[]): void {
    const snapshot = snapshotOf(actor);
    if (topState(snapshot.value) === 'awaiting_approval' && snapshot.context.pending) {
      out.push(
        subagentId
          ? { ...snapshot.context.pending, subagent_id: subagentId }
          : snapshot.context.pending,
      );
    }
    const child = subagentOf(actor);
    if (child) pendingOf(child, subagentIdOf(child), out);
  }

  return {
    id: session.id,
    owner: session.owner,
    root,
    state: () => topState(snapshotOf(root).value),
    streamDelta: (executionId, messageId, text) => stream.delta(executionId, messageId, text),
    streamEnd() {
      stream.end();
      void writes.then(() => (streamed = null));
    },
    onDelta(listener) {
      deltaListeners.add(listener);
      return () => void deltaListeners.delete(listener);
    },
    streaming: () => (streamed ? deltaEvent(streamed) : null),
    isBroken: () => broken,
    failure: () => failure,
    lastSeq: () => fanout.lastSeq(),
    pendingApprovals() {
      const out: PendingApproval[] = [];
      pendingOf(root, null, out);
      return out;
    },
    actorForRequest(requestId) {
      for (let actor: AnyActorRef | undefined = root; actor; actor = subagentOf(actor)) {
        if (snapshotOf(actor).context.pending?.request_id === requestId) return actor;
      }
      return undefined;
    },
    subscribe: (afterSeq, listener, onLive, pace) =>
      fanout.subscribe(afterSeq, listener, onLive, pace),
    serial<T>(fn: () => Promise<T>): Promise<T> {
      const run = queue.then(() => {
        if (retired) throw new SessionRetired(session.id);
        return fn();
      });
      queue = run.catch(() => undefined);
      return run;
    },
    async flush() {
      if (dirty || pending.length > 0) write();
      let current: Promise<unknown>;
      do {
        current = writes;
        await current;
      } while (current !== writes);
    },
    startedHere: (callId) => startedCalls.has(callId),
    async written() {
      if (dirty || pending.length > 0) write();
      await writes;
    },
    hold() {
      holds += 1;
      activeAt = clock.now();
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        holds -= 1;
        activeAt = clock.now();
      };
    },
    holders: () => holds,
    activeAt: () => activeAt,
    touch() {
      activeAt = clock.now();
    },
    async retire() {
      retired = true;
      await this.stop();
    },
    isRetired: () => retired,
    async stop() {
      await this.flush();
      root.stop();
      fanout.close();
    },
  };
}
