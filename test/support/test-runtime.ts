import pino from 'pino';
import { afterEach } from 'vitest';
import { createBuiltinPlanner } from '../../src/agent/builtin-planner.ts';
import { createBuiltinTools } from '../../src/agent/builtin-tools.ts';
import { createLedger } from '../../src/agent/ledger.ts';
import type { Planner } from '../../src/agent/planner.ts';
import { createToolRegistry } from '../../src/agent/tool-registry.ts';
import { isAppError } from '../../src/errors.ts';
import {
  outboundEventSchema,
  type OutboundEvent,
  type OutboundOf,
  type OutboundType,
} from '../../src/protocol/outbound.ts';
import { createMemoryStore } from '../../src/store/memory-store.ts';
import type { Clock } from '../../src/runtime/clock.ts';
import type { SessionHost } from '../../src/runtime/session-host.ts';
import { createSessionRuntime } from '../../src/runtime/session-runtime.ts';
import type { RuntimeObserver } from '../../src/runtime/runtime-observer.ts';
import type { Store } from '../../src/store/store.ts';

/** Test support for the runtime: a runtime over a memory store and a fresh demo ledger. */
export function createTestRuntime(
  options: {
    planner?: Planner;
    clock?: Clock;
    observe?: Partial<RuntimeObserver>;
    passivateAfterMs?: number;
    /** Wraps the memory store (a flaky store, say). */
    wrapStore?: (store: Store) => Store;
  } = {},
) {
  const ledger = createLedger();
  const store = options.wrapStore?.(createMemoryStore()) ?? createMemoryStore();
  const registry = createToolRegistry(createBuiltinTools(ledger));
  const runtime = createSessionRuntime({
    store,
    planner: options.planner ?? createBuiltinPlanner(),
    registry,
    logger: pino({ level: 'silent' }),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.observe ? { observe: options.observe } : {}),
    ...(options.passivateAfterMs !== undefined
      ? { passivateAfterMs: options.passivateAfterMs }
      : {}),
  });
  return { ledger, store, registry, runtime };
}

/**
 * For a test file: `setup()` gives a runtime with one session of `dev` and a watcher on it;
 * the runtime is closed after each test.
 */
export function useSessionRuntime() {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  return async (options: Parameters<typeof createTestRuntime>[0] = {}) => {
    const t = createTestRuntime(options);
    close = () => t.runtime.close();
    const session = await t.runtime.createSession('dev');
    const watch = await watchSession(session);
    return { ...t, session, watch };
  };
}

interface Waiter {
  match(event: OutboundEvent): boolean;
  resolve(event: OutboundEvent): void;
}

/**
 * Subscribes to a session and lets a test wait for an event. Every event is also checked
 * against the wire schema; `invalid` lists the ones that failed.
 */
export async function watchSession(host: SessionHost, afterSeq = 0) {
  const events: OutboundEvent[] = [];
  const invalid: unknown[] = [];
  const waiters = new Set<Waiter>();
  const unsubscribe = await host.subscribe(afterSeq, (event) => {
    events.push(event);
    if (!outboundEventSchema.safeParse(event).success) invalid.push(event);
    for (const waiter of waiters) {
      if (waiter.match(event)) {
        waiters.delete(waiter);
        waiter.resolve(event);
      }
    }
  });

  /** The first event (received so far or later) of this type that matches, or a timeout error. */
  function waitFor<T extends OutboundType>(
    type: T,
    where: (event: OutboundOf<T>) => boolean = () => true,
    timeoutMs = 2_000,
  ): Promise<OutboundOf<T>> {
    const match = (event: OutboundEvent): boolean =>
      event.type === type && where(event as OutboundOf<T>);
    const seen = events.find(match);
    if (seen) return Promise.resolve(seen as OutboundOf<T>);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event as OutboundOf<T>);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        const got = events.map((e) => `${e.seq}:${e.type}`).join(' ');
        reject(new Error(`no ${type} event within ${timeoutMs} ms; got ${got || 'nothing'}`));
      }, timeoutMs);
      waiters.add(waiter);
    });
  }

  return {
    events,
    invalid,
    waitFor,
    types: () => events.map((e) => e.type),
    unsubscribe,
  };
}

/** The AppError code a promise rejects with (fails when it resolves or throws something else). */
export async function errorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error)) return error.code;
    throw error;
  }
  throw new Error('expected an AppError, but the call succeeded');
}
