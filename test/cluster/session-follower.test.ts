import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFollowerSet, type FollowerSet } from '../../src/cluster/follower-set.ts';
import { connectBus, type Bus } from '../../src/cluster/nats-bus.ts';
import {
  createSessionFollower,
  type SessionFollower,
  type SessionFollowerDeps,
} from '../../src/cluster/session-follower.ts';
import { eventFrame } from '../../src/protocol/event-frame.ts';
import type { OutboundEvent } from '../../src/protocol/outbound.ts';
import { createMemoryStore } from '../../src/store/memory-store.ts';
import type { Store } from '../../src/store/store.ts';
import { hasNatsServer, startNatsServer, type TestNatsServer } from '../support/nats-server.ts';
import { openTestStore, testBackends } from '../support/stores.ts';
import { createSessionLog, makeDelta, makeEvent, stateOf } from './session-log.ts';

const logger = pino({ level: 'silent' });
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
const until = (check: () => void) => vi.waitFor(check, { timeout: 5_000, interval: 5 });

/** What one subscriber of a follower was given, in order. */
async function subscriber(follower: SessionFollower, afterSeq: number) {
  const seqs: number[] = [];
  const unsubscribe = await follower.subscribe(afterSeq, (event) => seqs.push(event.seq));
  return { seqs, unsubscribe };
}

describe.skipIf(!hasNatsServer())('a session follower', () => {
  let server: TestNatsServer;
  let owner: Bus;
  let node: Bus;
  const followers: SessionFollower[] = [];
  let sessions = 0;

  beforeAll(async () => {
    server = await startNatsServer();
    owner = await connectBus({ url: server.url, nodeId: 'owner', logger });
    node = await connectBus({ url: server.url, nodeId: 'follower', logger });
  });
  afterEach(() => {
    for (const follower of followers.splice(0)) follower.close();
  });
  afterAll(async () => {
    await owner?.close();
    await node?.close();
    await server?.dispose();
  });

  /** A fresh session in `store` and a ready follower of it on the other node. */
  async function follow(
    store: Store = createMemoryStore(),
    extra: Partial<SessionFollowerDeps> = {},
  ) {
    const sessionId = `ses_f${(sessions += 1)}`;
    const log = await createSessionLog(store, sessionId);
    const fills: number[] = [];
    const follower = createSessionFollower({
      sessionId,
      store,
      bus: node,
      logger,
      initial: { last_seq: 0, state: 'idle' },
      onFill: (events) => fills.push(events),
      ...extra,
    });
    followers.push(follower);
    await follower.ready();
    /** Stores the next events, publishing only the frames of the seqs in `published`. */
    async function storeEvents(count: number, published: (seq: number) => boolean = () => true) {
      for (const frame of await log.append(count)) {
        const { seq } = JSON.parse(frame) as { seq: number };
        if (published(seq)) owner.publishEvent(sessionId, frame);
      }
    }
    return { sessionId, log, follower, fills, store: storeEvents };
  }

  it('gives every seq once and in order when frames are lost (filled from the log)', async () => {
    const { follower, fills, store } = await follow();
    const sub = await subscriber(follower, 0);
    const kept = new Set([1, 2, 5, 9, 12]);
    await store(12, (seq) => kept.has(seq));
    await until(() => expect(sub.seqs).toEqual(range(1, 12)));
    expect(follower.lastSeq()).toBe(12);
    expect(follower.state()).toBe(stateOf(12));
    expect(fills.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(7);
  });

  it('gives every seq once and in order when frames come out of order or twice', async () => {
    const { sessionId, log, follower } = await follow();
    const sub = await subscriber(follower, 0);
    const frames = await log.append(6);
    for (const seq of [1, 3, 2, 2, 5, 4, 6, 6, 1]) owner.publishEvent(sessionId, frames[seq - 1]!);
    await until(() => expect(sub.seqs).toEqual(range(1, 6)));
    // The duplicates after 6 are dropped: nothing more comes.
    owner.publishEvent(sessionId, frames[2]!);
    await log.append(1).then(([frame]) => owner.publishEvent(sessionId, frame!));
    await until(() => expect(sub.seqs).toEqual(range(1, 7)));
  });

  it('holds frames that come while a gap is filled and gives them after it, once', async () => {
    const inner = createMemoryStore();
    let release: () => void = () => {};
    let reading: () => void = () => {};
    let gate: Promise<void> | null = null;
    const slow: Store = {
      ...inner,
      async readEvents(...args) {
        const rows = await inner.readEvents(...args);
        if (gate) {
          reading();
          await gate;
        }
        return rows;
      },
    };
    const { sessionId, log, follower, fills } = await follow(slow);
    const sub = await subscriber(follower, 0);
    const frames = await log.append(3);
    gate = new Promise((resolve) => (release = resolve));
    const read = new Promise<void>((resolve) => (reading = resolve));
    owner.publishEvent(sessionId, frames[0]!);
    owner.publishEvent(sessionId, frames[2]!); // 2 lost: the fill reads 2 and 3, then waits
    await read;
    for (const frame of await log.append(4)) owner.publishEvent(sessionId, frame); // 4..7
    owner.publishEvent(sessionId, frames[1]!); // a late duplicate of 2
    await until(() => expect(sub.seqs).toEqual([1]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sub.seqs).toEqual([1]);
    gate = null;
    release();
    await until(() => expect(sub.seqs).toEqual(range(1, 7)));
    expect(fills).toEqual([2]); // 2 and 3 from the log; 4..7 from their frames
  });

  it('gives a lost last event on catchUp()', async () => {
    const { follower, store } = await follow();
    const sub = await subscriber(follower, 0);
    await store(3, (seq) => seq !== 3);
    await until(() => expect(sub.seqs).toEqual([1, 2]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sub.seqs).toEqual([1, 2]); // no later frame reveals the loss
    await follower.catchUp();
    expect(sub.seqs).toEqual([1, 2, 3]);
    expect(follower.state()).toBe(stateOf(3));
  });

  it('gives two subscribers with different afterSeq every seq once each', async () => {
    const { follower, store } = await follow();
    await store(5);
    await until(() => expect(follower.lastSeq()).toBe(5));
    const x = await subscriber(follower, 0);
    const y = await subscriber(follower, 3);
    expect(x.seqs).toEqual(range(1, 5));
    expect(y.seqs).toEqual([4, 5]);
    await store(5, (seq) => seq % 2 === 0); // 7 and 9 lost
    const z = await subscriber(follower, 2); // joins while the follower catches up
    await until(() => expect(x.seqs).toEqual(range(1, 10)));
    await until(() => expect(y.seqs).toEqual(range(4, 10)));
    await until(() => expect(z.seqs).toEqual(range(3, 10)));
    x.unsubscribe();
    await store(1);
    await until(() => expect(y.seqs).toEqual(range(4, 11)));
    expect(x.seqs).toEqual(range(1, 10));
  });

  it('starts from the row it was given and catches up to the log once ready', async () => {
    const store = createMemoryStore();
    const log = await createSessionLog(store, 'ses_behind');
    await log.append(3);
    const follower = createSessionFollower({
      sessionId: 'ses_behind',
      store,
      bus: node,
      logger,
      initial: { last_seq: 1, state: 'thinking' },
    });
    followers.push(follower);
    expect(follower.state()).toBe('thinking');
    await follower.ready();
    expect(follower.lastSeq()).toBe(3);
    expect(follower.state()).toBe(stateOf(3));
    const sub = await subscriber(follower, 1);
    expect(sub.seqs).toEqual([2, 3]);
  });

  it('passes deltas on after the event they follow, and never after a later one', async () => {
    const { sessionId, log, follower } = await follow();
    const stream: string[] = [];
    await follower.subscribe(0, (event) => stream.push(`event ${event.seq}`));
    follower.onDelta((event) => stream.push(`delta ${event.seq} ${deltaText(event)}`));
    const delta = (seq: number, text: string) =>
      owner.publishDelta(sessionId, JSON.stringify(makeDelta(sessionId, seq, text)));

    const [first] = await log.append(1);
    owner.publishEvent(sessionId, first!);
    delta(1, 'Hel');
    delta(1, 'lo');
    await until(() => expect(stream).toHaveLength(3));
    expect(follower.streaming()).toMatchObject({
      type: 'message_delta',
      seq: 1,
      data: { message_id: 'msg_1', delta: 'Hello' },
    });

    const [, third] = await log.append(2); // 2's frame is lost
    delta(2, '!'); // streamed after 2: held until 2 is given
    owner.publishEvent(sessionId, third!);
    await until(() => expect(stream).toHaveLength(6));
    delta(2, 'late'); // 3 is out already: dropped
    const [fourth] = await log.append(1);
    owner.publishEvent(sessionId, fourth!);
    await until(() => expect(stream).toHaveLength(7));
    expect(stream).toEqual([
      'event 1',
      'delta 1 Hel',
      'delta 1 lo',
      'event 2',
      'delta 2 !',
      'event 3',
      'event 4',
    ]);
  });

  it('ignores frames it cannot read or that are not of its session', async () => {
    const { sessionId, log, follower } = await follow();
    const sub = await subscriber(follower, 0);
    owner.publishEvent(sessionId, 'not json');
    owner.publishEvent(sessionId, '{"seq":1}');
    owner.publishEvent(sessionId, eventFrame(makeEvent('ses_someone_else', 1)));
    owner.publishEvent(sessionId, JSON.stringify(makeDelta(sessionId, 0, 'unmarked')));
    owner.publishDelta(sessionId, eventFrame(makeEvent(sessionId, 1))); // an event marked delta
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(sub.seqs).toEqual([]);
    for (const frame of await log.append(2)) owner.publishEvent(sessionId, frame);
    await until(() => expect(sub.seqs).toEqual([1, 2]));
  });

  it('gives events whose text is the frame the owner published', async () => {
    const { sessionId, log, follower } = await follow();
    const got: string[] = [];
    await follower.subscribe(0, (event) => got.push(eventFrame(event)));
    const frames = await log.append(3);
    owner.publishEvent(sessionId, frames[0]!);
    owner.publishEvent(sessionId, frames[2]!);
    await until(() => expect(got).toEqual(frames));
  });

  it('sends nothing more once closed', async () => {
    const { follower, store } = await follow();
    const sub = await subscriber(follower, 0);
    await store(1);
    await until(() => expect(sub.seqs).toEqual([1]));
    follower.close();
    await store(2);
    await follower.catchUp();
    expect(sub.seqs).toEqual([1]);
  });
});

describe.skipIf(!hasNatsServer())('a session follower while NATS restarts', () => {
  it('catches up from the log on reconnect, what was stored while NATS was down', async () => {
    const server = await startNatsServer();
    const owner = await connectBus({ url: server.url, nodeId: 'owner', logger });
    const node = await connectBus({ url: server.url, nodeId: 'follower', logger });
    const store = createMemoryStore();
    const log = await createSessionLog(store, 'ses_restart');
    const follower = createSessionFollower({
      sessionId: 'ses_restart',
      store,
      bus: node,
      logger,
      initial: { last_seq: 0 },
    });
    try {
      await follower.ready();
      const sub = await subscriber(follower, 0);
      for (const frame of await log.append(2)) owner.publishEvent('ses_restart', frame);
      await until(() => expect(sub.seqs).toEqual([1, 2]));
      await server.stop('SIGKILL');
      await until(() => expect(node.isConnected() || owner.isConnected()).toBe(false));
      for (const frame of await log.append(3)) owner.publishEvent('ses_restart', frame); // lost
      await server.restart();
      // No frame and no check: the reconnect alone makes it read the log.
      await until(() => expect(sub.seqs).toEqual(range(1, 5)));
      // Live again once both ends are back (the owner drops what it publishes before that).
      await until(() => expect(owner.isConnected() && node.isConnected()).toBe(true));
      for (const frame of await log.append(1)) owner.publishEvent('ses_restart', frame);
      await until(() => expect(sub.seqs).toEqual(range(1, 6)));
    } finally {
      follower.close();
      await owner.close();
      await node.close();
      await server.dispose();
    }
  });
});

describe.skipIf(!hasNatsServer()).each(testBackends())('the follower set on %s', (backend) => {
  let server: TestNatsServer;
  let owner: Bus;
  let node: Bus;
  let store: Store;
  let opened: Awaited<ReturnType<typeof openTestStore>> | undefined;
  const sets: FollowerSet[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    owner = await connectBus({ url: server.url, nodeId: 'owner', logger });
    node = await connectBus({ url: server.url, nodeId: 'follower', logger });
    opened = await openTestStore(backend);
    store = opened.store;
  });
  afterEach(() => {
    for (const set of sets.splice(0)) set.close();
  });
  afterAll(async () => {
    await owner?.close();
    await node?.close();
    await opened?.dispose();
    await server?.dispose();
  });

  function followerSet(intervalMs: number) {
    const set = createFollowerSet({ store, bus: node, logger, intervalMs });
    sets.push(set);
    return set;
  }

  it("reads every followed session's last seq in one query", async () => {
    const a = await createSessionLog(store, `ses_${backend}_seqs_a`);
    const b = await createSessionLog(store, `ses_${backend}_seqs_b`);
    await a.append(3);
    await b.append(1);
    const seqs = await store.lastSeqs([
      `ses_${backend}_seqs_a`,
      `ses_${backend}_seqs_b`,
      'ses_none',
    ]);
    expect(Object.fromEntries(seqs)).toEqual({
      [`ses_${backend}_seqs_a`]: 3,
      [`ses_${backend}_seqs_b`]: 1,
    });
    expect((await store.lastSeqs([])).size).toBe(0);
  });

  it('delivers lost last events on check(), for every followed session', async () => {
    const set = followerSet(0);
    const ids = [`ses_${backend}_check_a`, `ses_${backend}_check_b`];
    const logs = await Promise.all(ids.map((id) => createSessionLog(store, id)));
    const holds = ids.map((id) => set.hold(id, { last_seq: 0 }));
    await Promise.all(holds.map(({ follower }) => follower.ready()));
    const subs = await Promise.all(holds.map(({ follower }) => subscriber(follower, 0)));
    for (const [i, log] of logs.entries()) {
      const frames = await log.append(2 + i);
      for (const frame of frames.slice(0, -1)) owner.publishEvent(ids[i]!, frame); // last lost
    }
    await until(() => expect(subs.map((s) => s.seqs)).toEqual([[1], [1, 2]]));
    await set.check();
    expect(subs.map((s) => s.seqs)).toEqual([
      [1, 2],
      [1, 2, 3],
    ]);
  });

  it('delivers a lost last event by its periodic check alone', async () => {
    const set = followerSet(50);
    const id = `ses_${backend}_periodic`;
    const log = await createSessionLog(store, id);
    const { follower } = set.hold(id, { last_seq: 0 });
    await follower.ready();
    const sub = await subscriber(follower, 0);
    await log.append(1); // its frame is never published
    await until(() => expect(sub.seqs).toEqual([1]));
  });

  it('shares one follower per session and closes it with the last release', async () => {
    const set = followerSet(0);
    const id = `ses_${backend}_holds`;
    const log = await createSessionLog(store, id);
    const first = set.hold(id, { last_seq: 0 });
    const second = set.hold(id, { last_seq: 0 });
    expect(second.follower).toBe(first.follower);
    await first.follower.ready();
    const sub = await subscriber(first.follower, 0);
    first.release();
    first.release(); // a second release of one hold changes nothing
    expect(set.get(id)).toBe(first.follower);
    second.release();
    expect(set.size()).toBe(0);
    await log.append(1).then(([frame]) => owner.publishEvent(id, frame!));
    await set.check();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(sub.seqs).toEqual([]);
  });
});

function deltaText(event: OutboundEvent): string {
  return event.type === 'message_delta' ? event.data.delta : '';
}
