import type { OutboundEvent, OutboundOf, OutboundType } from '../protocol/outbound.ts';
import { SessionClientError } from './errors.ts';

export type EventHandler<T extends OutboundType> = (event: OutboundOf<T>) => void;
/** One handler per event type, e.g. for `connectSession({ on: { complete: ... } })`. */
export type EventHandlers = { [T in OutboundType]?: EventHandler<T> };

type AnyHandler = (event: OutboundEvent) => void;

/**
 * Handlers by event type, plus catch-all ones. A handler that throws is reported and never
 * stops the others or the client.
 */
export function createHandlerRegistry(report: (error: unknown) => void) {
  const byType = new Map<string, Set<AnyHandler>>();
  const any = new Set<AnyHandler>();

  function add(set: Set<AnyHandler>, handler: AnyHandler): () => void {
    // Wrapped, so one function registered twice is two registrations.
    const entry: AnyHandler = (event) => handler(event);
    set.add(entry);
    return () => void set.delete(entry);
  }

  function call(handler: AnyHandler, event: OutboundEvent): void {
    try {
      handler(event);
    } catch (error) {
      report(error);
    }
  }

  return {
    on<T extends OutboundType>(type: T, handler: EventHandler<T>): () => void {
      let set = byType.get(type);
      if (!set) byType.set(type, (set = new Set()));
      return add(set, handler as AnyHandler);
    },
    onAny: (handler: AnyHandler) => add(any, handler),
    emit(event: OutboundEvent): void {
      const set = byType.get(event.type);
      if (set) for (const handler of [...set]) call(handler, event);
      for (const handler of [...any]) call(handler, event);
    },
  };
}

interface Waiter {
  matches(event: OutboundEvent): boolean;
  resolve(event: OutboundEvent): void;
  reject(error: SessionClientError): void;
}

/** Enough for "the event that just came"; bounded, since a process may hold many clients. */
const HISTORY = 64;

/**
 * Promises for events to come. The last stored events are kept, so a waiter may also take
 * one that arrived just before it was made (`since` a known seq).
 */
export function createEventWaiters() {
  const waiters = new Set<Waiter>();
  const history: OutboundEvent[] = [];

  return {
    /** Every delivered event; stored ones also go to the history. */
    offer(event: OutboundEvent, stored: boolean): void {
      if (stored) {
        history.push(event);
        if (history.length > HISTORY) history.splice(0, history.length - HISTORY);
      }
      for (const waiter of [...waiters]) if (waiter.matches(event)) waiter.resolve(event);
    },

    wait(
      matches: (event: OutboundEvent) => boolean,
      timeoutMs: number,
      since: number | undefined,
      describe: string,
    ): Promise<OutboundEvent> {
      if (since !== undefined) {
        const past = history.find((event) => event.seq > since && matches(event));
        if (past) return Promise.resolve(past);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new SessionClientError('timeout', `no ${describe} within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter: Waiter = {
          matches,
          resolve(event) {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(event);
          },
          reject(error) {
            clearTimeout(timer);
            waiters.delete(waiter);
            reject(error);
          },
        };
        waiters.add(waiter);
      });
    },

    failAll(error: SessionClientError): void {
      for (const waiter of [...waiters]) waiter.reject(error);
    },
  };
}
