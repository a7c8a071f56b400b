import type { Logger } from 'pino';
import type { SessionState } from '../../machines/session.types.ts';
import type { OutboundEvent, OutboundOf } from '../protocol/outbound.ts';
import { createEventFanout, type EventListener, type ReplayPace } from '../runtime/event-fanout.ts';
import { stripChain } from '../store/event-chain.ts';
import type { Store } from '../store/store.ts';
import { decodeEventFrame } from './event-wire.ts';
import type { Bus, BusFrame } from './nats-bus.ts';

/** A node's view of a session another node owns, for its sockets: SessionHost's read side. */
export interface SessionFollower {
  readonly id: string;
  /** The top-level state after the last event delivered. */
  state(): SessionState;
  /** The seq of the last event delivered (every one up to it, in order). */
  lastSeq(): number;
  /**
   * As SessionHost.subscribe: stored events after afterSeq from the log, then live ones. An
   * afterSeq past lastSeq() first catches up from the log.
   */
  subscribe(
    afterSeq: number,
    listener: EventListener,
    onLive?: () => void,
    pace?: ReplayPace,
  ): Promise<() => void>;
  /** Each `message_delta`, once the events stored before it are delivered. */
  onDelta(listener: EventListener): () => void;
  /** The text streamed so far of the current message, as one `message_delta`; or null. */
  streaming(): OutboundEvent | null;
  /** Delivers what the log holds past lastSeq(): the last event's frame may have been lost. */
  catchUp(): Promise<void>;
  /** Resolves once it follows the session's subject and has caught up once from the log. */
  ready(): Promise<void>;
  close(): void;
}

export interface SessionFollowerDeps {
  sessionId: string;
  store: Store;
  bus: Pick<Bus, 'followEvents' | 'onStatus'>;
  logger: Logger;
  /** Where the session stood when it was read (its row); state() is this until an event. */
  initial: { last_seq: number; state?: SessionState };
  /** Events a gap fill or catch-up took from the log (lost or overtaken frames), for metrics. */
  onFill?: (events: number) => void;
}

const PAGE = 500;
/** Frames ahead of a gap kept while it is filled; past this they are dropped (the log has them). */
const MAX_EARLY = 10_000;

type Delta = OutboundOf<'message_delta'>;

/**
 * NATS core delivers at most once, in order per publisher: a frame ahead of the next seq
 * means some were lost, and the log fills the gap (one fill at a time, frames that arrive
 * meanwhile held and delivered after it), so every seq goes out once and in order.
 */
export function createSessionFollower(deps: SessionFollowerDeps): SessionFollower {
  const { sessionId, store } = deps;
  const log = deps.logger.child({ sessionId, component: 'session-follower' });
  const fanout = createEventFanout(sessionId, store, deps.initial.last_seq);
  let delivered = deps.initial.last_seq;
  let state: SessionState = deps.initial.state ?? 'idle';
  let closed = false;
  /** Live events past the next seq, by seq, while the gap before them is filled. */
  const early = new Map<number, OutboundEvent>();
  /** Deltas that follow an event not delivered yet, by that event's seq. */
  const heldDeltas = new Map<number, Delta[]>();
  const deltaListeners = new Set<EventListener>();
  let streamed: Delta | null = null;
  let filling: Promise<void> | null = null;
  let fillAgain = false;
  let unfollow: (() => Promise<void>) | null = null;

  function deliver(event: OutboundEvent): void {
    delivered = event.seq;
    state = event.state;
    if (streamed && (event.state !== 'thinking' || isEndOf(event, streamed))) streamed = null;
    fanout.publish(event);
    const deltas = heldDeltas.get(event.seq);
    if (deltas) {
      heldDeltas.delete(event.seq);
      for (const delta of deltas) emitDelta(delta);
    }
  }

  function drainEarly(): void {
    for (const seq of early.keys()) if (seq <= delivered) early.delete(seq);
    for (const seq of heldDeltas.keys()) if (seq < delivered) heldDeltas.delete(seq);
    for (let next = early.get(delivered + 1); next; next = early.get(delivered + 1)) {
      early.delete(next.seq);
      deliver(next);
    }
  }

  function emitDelta(delta: Delta): void {
    streamed =
      streamed?.data.message_id === delta.data.message_id
        ? { ...delta, data: { ...delta.data, delta: streamed.data.delta + delta.data.delta } }
        : delta;
    for (const listener of deltaListeners) listener(delta);
  }

  function onDeltaFrame(delta: Delta): void {
    if (delta.seq < delivered) return; // events after it are out already: it would trail them
    if (delta.seq === delivered) return emitDelta(delta);
    const held = heldDeltas.get(delta.seq);
    if (held) held.push(delta);
    else if (heldDeltas.size < MAX_EARLY) heldDeltas.set(delta.seq, [delta]);
  }

  function onFrame(frame: BusFrame): void {
    if (closed) return;
    const decoded = decodeEventFrame(frame.text);
    if (!decoded.ok) return log.warn({ problem: decoded.message }, 'unreadable event frame');
    const { event } = decoded;
    if (event.session_id !== sessionId) return log.warn('event frame of another session');
    if ((frame.kind === 'delta') !== (event.type === 'message_delta')) {
      return log.warn({ type: event.type, kind: frame.kind }, 'event frame marked wrongly');
    }
    if (event.type === 'message_delta') return onDeltaFrame(event);
    if (event.seq <= delivered) return;
    if (!filling && event.seq === delivered + 1) {
      deliver(event);
      return drainEarly();
    }
    if (early.size < MAX_EARLY) early.set(event.seq, event);
    if (!filling) void fill(); // a fill under way delivers it when it reaches it
  }

  /** Reads the log past the delivered seq to its end, delivering in order. */
  async function readLog(): Promise<number> {
    let count = 0;
    for (;;) {
      const page = await store.readEvents(sessionId, delivered, PAGE);
      if (closed) return count;
      for (const stored of page) {
        if (stored.seq <= delivered) continue;
        if (stored.seq !== delivered + 1) {
          log.error({ seq: stored.seq, delivered }, 'the log skips a seq');
          return count;
        }
        deliver(stripChain(stored));
        count += 1;
      }
      drainEarly();
      if (page.length < PAGE) return count;
    }
  }

  function fill(): Promise<void> {
    if (filling) {
      fillAgain = true;
      return filling;
    }
    filling = (async () => {
      try {
        let again: boolean;
        do {
          fillAgain = false;
          const count = await readLog();
          if (count > 0) deps.onFill?.(count);
          // Held frames past a new gap (lost while this read ran): read on while it helps.
          again = fillAgain || (early.size > 0 && count > 0);
        } while (again && !closed);
      } catch (error) {
        // Frames stay held; the next frame, reconnect or periodic check fills again.
        log.warn({ err: error }, 'gap fill from the log failed');
      } finally {
        filling = null;
      }
    })();
    return filling;
  }

  const offStatus = deps.bus.onStatus((status) => {
    if (status === 'reconnected') void fill();
  });
  const following = deps.bus
    .followEvents(sessionId, onFrame)
    .then((unsubscribe) => {
      if (closed) return unsubscribe();
      unfollow = unsubscribe;
      // Events stored between the row's read and the subscription came before it.
      return fill();
    })
    .catch((error: unknown) => {
      log.error({ err: error }, 'could not follow the session');
      throw error;
    });
  following.catch(() => undefined);

  return {
    id: sessionId,
    state: () => state,
    lastSeq: () => delivered,
    async subscribe(afterSeq, listener, onLive, pace) {
      // A subscriber that saw events on another node may be ahead of this follower: it goes
      // live once they are delivered here too, or a broadcast it joins would repeat them.
      if (afterSeq > delivered && !closed) await fill();
      return fanout.subscribe(afterSeq, listener, onLive, pace);
    },
    onDelta(listener) {
      deltaListeners.add(listener);
      return () => void deltaListeners.delete(listener);
    },
    streaming: () => (streamed ? { ...streamed, seq: delivered, state } : null),
    catchUp: () => (closed ? Promise.resolve() : fill()),
    ready: () => following,
    close() {
      if (closed) return;
      closed = true;
      void unfollow?.();
      offStatus();
      fanout.close();
      early.clear();
      heldDeltas.clear();
      deltaListeners.clear();
    },
  };
}

/** The stored `message` that ends a streamed message. */
function isEndOf(event: OutboundEvent, delta: Delta): boolean {
  return event.type === 'message' && event.data.message_id === delta.data.message_id;
}
