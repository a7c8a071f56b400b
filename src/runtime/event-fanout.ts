import type { OutboundEvent } from '../protocol/outbound.ts';
import type { Store } from '../store/store.ts';
import { stripChain } from '../store/event-chain.ts';

export type EventListener = (event: OutboundEvent) => void;

/**
 * Asked after each replayed event: undefined to go on at once, or a promise to wait for (a
 * socket whose send buffer is filling). A rejection ends the replay with that error.
 */
export type ReplayPace = () => Promise<void> | undefined;

const REPLAY_PAGE = 500;

interface Subscriber {
  listener: EventListener;
  /** Highest seq this subscriber has been given. */
  delivered: number;
  /** Live events that arrived while the replay was still reading the log. */
  buffer: OutboundEvent[] | null;
}

/**
 * Hands a session's stored events to its subscribers. A subscriber that asks for events
 * after seq n first gets the stored ones from the log, then the live ones, each exactly once.
 */
export function createEventFanout(sessionId: string, store: Store, initialSeq: number) {
  const subscribers = new Set<Subscriber>();
  let published = initialSeq;

  function deliver(sub: Subscriber, event: OutboundEvent): void {
    if (event.seq <= sub.delivered) return;
    sub.delivered = event.seq;
    sub.listener(event);
  }

  return {
    lastSeq: () => published,

    publish(event: OutboundEvent): void {
      published = Math.max(published, event.seq);
      for (const sub of subscribers) {
        if (sub.buffer) sub.buffer.push(event);
        else deliver(sub, event);
      }
    },

    /**
     * `onLive` runs synchronously once the replay is delivered: from then on `listener` gets
     * each new event as it is published (a socket may switch to a broadcast topic there).
     */
    async subscribe(
      afterSeq: number,
      listener: EventListener,
      onLive?: () => void,
      pace?: ReplayPace,
    ): Promise<() => void> {
      const from = Math.max(0, afterSeq);
      const sub: Subscriber = { listener, delivered: from, buffer: from < published ? [] : null };
      subscribers.add(sub);
      const unsubscribe = () => void subscribers.delete(sub);
      if (!sub.buffer) {
        onLive?.();
        return unsubscribe;
      }
      try {
        for (;;) {
          const page = await store.readEvents(sessionId, sub.delivered, REPLAY_PAGE);
          // Stored but not yet published: it comes through the buffer, or live once the
          // caller has switched to its broadcast in onLive; replaying it too would repeat it.
          const ready = page.filter((stored) => stored.seq <= published);
          for (const stored of ready) {
            deliver(sub, stripChain(stored));
            const wait = pace?.();
            if (wait) await wait;
          }
          if (page.length < REPLAY_PAGE || ready.length < page.length) break;
        }
      } catch (error) {
        unsubscribe();
        throw error;
      }
      const buffered = sub.buffer;
      sub.buffer = null;
      for (const event of buffered) deliver(sub, event);
      onLive?.();
      return unsubscribe;
    },

    close(): void {
      subscribers.clear();
    },
  };
}
