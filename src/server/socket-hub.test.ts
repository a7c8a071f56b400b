import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { OutboundEvent } from '../protocol/outbound.ts';
import type { SessionService, SessionView } from '../runtime/index.ts';
import type { Connection, SocketState } from './connection.ts';
import { DEFAULT_SOCKET_LIMITS } from './connection.ts';
import { createSocketHub } from './socket-hub.ts';
import { createUserLimiter, DEFAULT_USER_LIMITS } from './user-limits.ts';

type Frame = { type: string; seq: number; data: { last_seq?: number } };

function stored(seq: number): OutboundEvent {
  return {
    type: 'thinking',
    session_id: 'ses_1',
    seq,
    timestamp: new Date(0).toISOString(),
    state: 'thinking',
    data: {},
  } as OutboundEvent;
}

/** A session whose log the test moves on by hand: its events are 1..head. */
function sessionAt(head: number): SessionView & { moveTo(seq: number): void } {
  return {
    id: 'ses_1',
    owner: 'dev',
    state: () => 'thinking',
    lastSeq: () => head,
    pendingApprovals: () => [],
    onDelta: () => () => undefined,
    streaming: () => null,
    hold: () => () => undefined,
    isBroken: () => false,
    isRetired: () => false,
    subscribe(afterSeq, listener, onLive) {
      for (let seq = afterSeq + 1; seq <= head; seq += 1) listener(stored(seq));
      onLive?.();
      return Promise.resolve(() => undefined);
    },
    moveTo(seq: number) {
      head = seq;
    },
  };
}

function socketOn(session: SessionView, afterSeq: number | null): Connection & { frames: Frame[] } {
  const frames: Frame[] = [];
  const state: SocketState = {
    id: 1,
    principal: { user_id: 'dev', roles: [] },
    session,
    afterSeq,
    log: pino({ level: 'silent' }),
    closed: false,
    live: false,
    ready: false,
    early: [],
    unsubscribe: null,
    refused: 0,
    refusedSince: 0,
    expiry: null,
    release: null,
  };
  return {
    state,
    frames,
    send: (text) => void frames.push(JSON.parse(text) as Frame),
    end: () => undefined,
    drop: () => undefined,
    bufferedAmount: () => 0,
    subscribe: () => undefined,
    cork: (fn) => fn(),
  };
}

function hub() {
  const runtime = { onSessionLost: () => undefined } as unknown as SessionService;
  return createSocketHub({
    runtime,
    auth: { mode: 'dev', authenticate: () => Promise.reject(new Error('not used')) },
    logger: pino({ level: 'silent' }),
    limits: DEFAULT_SOCKET_LIMITS,
    users: createUserLimiter(DEFAULT_USER_LIMITS),
    userLimits: DEFAULT_USER_LIMITS,
    publish: () => undefined,
  });
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('socket hub: what a new socket gets', () => {
  it('without last_seq, exactly the events after the last_seq `connected` reports, even when the session moves on during the open', async () => {
    const session = sessionAt(10);
    const conn = socketOn(session, null);
    hub().opened(conn);
    session.moveTo(12); // stored by another socket before this one's `connected` goes out
    await tick();
    await tick();
    const [connected, ...rest] = conn.frames;
    expect(connected?.type).toBe('connected');
    expect(connected?.data.last_seq).toBe(12);
    expect(rest.map((f) => f.seq)).toEqual([]);
  });

  it('with last_seq, every event after it, whatever `connected` reports', async () => {
    const session = sessionAt(10);
    const conn = socketOn(session, 7);
    hub().opened(conn);
    session.moveTo(12);
    await tick();
    await tick();
    const [connected, ...rest] = conn.frames;
    expect(connected?.data.last_seq).toBe(12);
    expect(rest.map((f) => f.seq)).toEqual([8, 9, 10, 11, 12]);
  });
});
