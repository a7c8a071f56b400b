import { afterAll, beforeAll, expect } from 'vitest';
import type { App } from '../support/test-app.ts';
import { outboundEventSchema } from '../../src/protocol/outbound.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';
import type { Target } from '../support/targets.ts';
import {
  createSession,
  signToken,
  startTestApp,
  type TestAppOptions,
} from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';

/** Not stored, carrying the seq of the last stored event: per-socket replies and streamed text. */
export const REPLY_TYPES = new Set(['connected', 'pong', 'message_delta']);

export interface Harness {
  readonly app: App;
  readonly db: TestStore;
}

/**
 * One store and one app for the whole file (a PGlite memory store costs seconds), started in
 * beforeAll and closed in afterAll. The getters fail loudly if used before beforeAll ran.
 */
export function useTestApp(
  target: Pick<Target, 'backend' | 'transport'>,
  options: Omit<TestAppOptions, 'store' | 'transport'> = {},
): Harness {
  let db: TestStore | undefined;
  let app: App | undefined;
  beforeAll(async () => {
    db = await openTestStore(target.backend);
    app = await startTestApp({ store: db.store, transport: target.transport, ...options });
  });
  afterAll(async () => {
    await app?.close();
    await db?.dispose();
  });
  return {
    get app() {
      if (!app) throw new Error('the app is not started');
      return app;
    },
    get db() {
      if (!db) throw new Error('the store is not open');
      return db;
    },
  };
}

export interface UserSession {
  token: string;
  sessionId: string;
  socket: TestSocket;
  connected: WireEvent;
}

/** A new session of `user`, and a socket on it that has seen its `connected` event. */
export async function openUserSession(app: App, user = 'alice'): Promise<UserSession> {
  const token = await signToken(user);
  const sessionId = await createSession(app, token);
  const socket = await connect(app, { session_id: sessionId, token });
  const connected = await socket.waitFor('connected');
  return { token, sessionId, socket, connected };
}

/** The upgrade's HTTP status and JSON body when it is refused; fails when it is accepted. */
export async function refusedUpgrade(
  attempt: Promise<TestSocket>,
): Promise<{ status: number; body: { error?: { code?: string } } }> {
  try {
    const socket = await attempt;
    await socket.close();
  } catch (error) {
    const { status, body } = error as { status?: number; body?: string };
    if (status === undefined) throw error;
    return { status, body: body ? (JSON.parse(body) as { error?: { code?: string } }) : {} };
  }
  throw new Error('the upgrade was accepted');
}

/** A reply to this socket alone: `connected`, `pong`, or an error answering its message. */
export function isReply(event: WireEvent): boolean {
  return REPLY_TYPES.has(event.type) || (event.type === 'error' && !event.execution_id);
}

/** The events after index `from` that happened to the session (stored, sent to every socket). */
export function sessionEvents(events: readonly WireEvent[], from = 0): WireEvent[] {
  return events.slice(from).filter((e) => !isReply(e));
}

/** Every event: a snake_case type and a valid outbound event per the protocol schema. */
export function expectWireValid(events: readonly WireEvent[]): void {
  expect(events.length).toBeGreaterThan(0);
  for (const event of events) {
    expect(event.type).toMatch(/^[a-z]+(_[a-z]+)*$/);
    const parsed = outboundEventSchema.safeParse(event);
    expect(parsed.error?.issues ?? [], `${event.type} #${event.seq}`).toEqual([]);
  }
}

/** Seqs rise by exactly one: strictly increasing, no gap, no duplicate. */
export function expectContiguous(events: readonly WireEvent[]): void {
  const seqs = events.map((e) => e.seq);
  const first = seqs[0] ?? 0;
  expect(seqs).toEqual(seqs.map((_, i) => first + i));
}
