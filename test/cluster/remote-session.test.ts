import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFollowerSet, type FollowerSet } from '../../src/cluster/follower-set.ts';
import { connectBus, type Bus } from '../../src/cluster/nats-bus.ts';
import { createRemoteSessions } from '../../src/cluster/remote-session.ts';
import type { SessionView } from '../../src/runtime/index.ts';
import { createMemoryStore } from '../../src/store/memory-store.ts';
import { hasNatsServer, startNatsServer, type TestNatsServer } from '../support/nats-server.ts';
import { createSessionLog, stateOf } from './session-log.ts';

const logger = pino({ level: 'silent' });
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * A view's contract with the socket hub: a socket is told it has every event up to
 * `lastSeq()` and then joins the view's one broadcast, so by the time `lastSeq()` says n,
 * the broadcast must have carried every event up to n, and must carry nothing up to n again.
 */
describe.skipIf(!hasNatsServer())('a view of a session another node owns', () => {
  let server: TestNatsServer;
  let owner: Bus;
  let node: Bus;
  let set: FollowerSet;
  const store = createMemoryStore();
  let sessions = 0;

  beforeAll(async () => {
    server = await startNatsServer();
    owner = await connectBus({ url: server.url, nodeId: 'owner', logger });
    node = await connectBus({ url: server.url, nodeId: 'viewer', logger });
  });
  afterEach(() => set?.close());
  afterAll(async () => {
    await owner?.close();
    await node?.close();
    await server?.dispose();
  });

  /** A session whose owner stored 3 events and published their frames; a view of it. */
  async function viewed() {
    const sessionId = `ses_remote${(sessions += 1)}`;
    const log = await createSessionLog(store, sessionId);
    set = createFollowerSet({ store, bus: node, logger, intervalMs: 0 });
    const remotes = createRemoteSessions(set);
    const answer = (last_seq: number) => ({
      owner: 'user_1',
      state: stateOf(last_seq),
      last_seq,
      pending_approvals: [],
    });
    await log.append(3);
    const view = await remotes.view(sessionId, answer(3));
    await set.get(sessionId)!.ready();
    // The hub's one broadcast of the view, from where the view stood when it was made.
    const broadcast: number[] = [];
    await view.subscribe(view.lastSeq(), (event) => broadcast.push(event.seq));
    /** Stores the next events, publishing only the frames of the seqs in `published`. */
    async function stored(count: number, published: (seq: number) => boolean) {
      for (const frame of await log.append(count)) {
        const { seq } = JSON.parse(frame) as { seq: number };
        if (published(seq)) owner.publishEvent(sessionId, frame);
      }
    }
    return { sessionId, remotes, view, answer, broadcast, stored };
  }

  /** What a socket that connects now is told, and what the broadcast gives it after. */
  function socketOn(view: SessionView, broadcast: number[]) {
    const told = view.lastSeq();
    const from = broadcast.length;
    return { told, after: () => broadcast.slice(from) };
  }

  it('has broadcast every event up to the seq it reports, when the owner answers ahead of its frames', async () => {
    const { sessionId, remotes, answer, broadcast, stored } = await viewed();
    // The owner has stored 4 and 5, but their frames are lost (or not here yet).
    await stored(2, () => false);
    const view = await remotes.view(sessionId, answer(5));
    const socket = socketOn(view, broadcast);
    expect(socket.told).toBe(5);
    expect(broadcast).toEqual([4, 5]);
    expect(view.state()).toBe(stateOf(5));
    // The next frame goes to the socket once, and nothing it was told it has comes again.
    await stored(1, () => true);
    await vi.waitFor(() => expect(socket.after()).toEqual([6]), { timeout: 5_000 });
    expect(broadcast).toEqual(range(4, 6));
  });

  it('never reports a seq its broadcast has not carried, whatever the answer said', async () => {
    const { sessionId, remotes, answer, broadcast, stored } = await viewed();
    await stored(4, (seq) => seq === 4); // 5, 6 and 7 lost
    const view = await remotes.view(sessionId, answer(7));
    expect(view.lastSeq()).toBe(7);
    expect(broadcast).toEqual(range(4, 7));
    // A socket that saw seq 9 on another node: its replay waits for this node to have it.
    await stored(2, () => false);
    const after: number[] = [];
    await view.subscribe(9, (event) => after.push(event.seq));
    expect(view.lastSeq()).toBe(9);
    expect(after).toEqual([]);
    await stored(1, () => true);
    await vi.waitFor(() => expect(after).toEqual([10]), { timeout: 5_000 });
    expect(broadcast).toEqual(range(4, 10));
  });
});
