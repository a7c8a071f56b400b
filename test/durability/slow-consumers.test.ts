import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDurableData, type DurableData } from './durable-data.ts';
import { startServerScript, type ServerProcess } from './server-process.ts';
import { liveMemory, watchRss } from '../support/process-memory.ts';
import { parsePrometheusText, valueOf } from '../support/prometheus-text.ts';
import { testTargets } from '../support/targets.ts';
import { createSession } from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import { expectContiguous, sessionEvents } from '../integration/harness.ts';

/*
 * Slow consumers: sockets of a session that stop reading are dropped at the backpressure limit,
 * so the server's memory is bounded by the limit (not by what the session sends them), and the
 * session's other sockets go on meanwhile. The server runs as a process of its own, so that
 * its memory is measured alone: peak RSS over the flow (whatever holds the unread frames,
 * uWS's native buffers included) and live memory after a full GC (what RSS noise would hide).
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** The server's per-socket send buffer (as in ws-backpressure.test.ts). */
const LIMIT = 64 * KiB;
/** Sockets of the one session that stop reading. */
const SLOW = 40;
/** One flow: EXECUTIONS executes of STEPS echo calls, ~22 MiB of events, each to every socket. */
const EXECUTIONS = 150;
const STEPS = 5;
/** The longest text `echo` takes. */
const TEXT = 'x'.repeat(10_000);
/** No frame of the flow is longer (`complete` carries the steps: ~50 KB; checked below). */
const FRAME = 64 * KiB;

/**
 * What one stuck socket may hold in the server before it is dropped: its send buffer up to the
 * limit, and the frame that takes it over (both transports check the limit before a send).
 * The kernel's socket buffers hold more (~4 MB a socket on loopback here), but they are not
 * the process's memory.
 */
const PER_SOCKET = LIMIT + FRAME;
/**
 * Peak RSS also counts the flow's garbage not yet collected: 55-83 MiB here, on either store
 * and transport. A server that kept the unread frames of each socket would add about
 * SLOW x 20 MB (uWS copies a frame per socket: ~800 MiB was measured with the limit at 1 GiB).
 */
const RSS_MARGIN = 128 * MiB;
/**
 * What the server's JS heap holds after a full GC grows by 0-6 MiB over a flow (the session's
 * state, the store's caches). The portable transport queues one string per event, shared by its sockets,
 * so unread events kept there cost ~20 MB of text once (and the queues' entries), not per
 * socket, which RSS noise hides: this bound catches it (31-33 MiB with the drop disabled).
 */
const LIVE_MARGIN = 8 * MiB;

const RSS_BOUND = SLOW * PER_SOCKET + RSS_MARGIN;
const LIVE_BOUND = SLOW * PER_SOCKET + LIVE_MARGIN;

/** Runs one flow to its end on the socket that reads. */
async function flow(socket: TestSocket): Promise<void> {
  const plan = Array.from({ length: STEPS }, () => ({ tool: 'echo', args: { text: TEXT } }));
  for (let i = 0; i < EXECUTIONS; i++) {
    const from = socket.events.length;
    socket.send({ type: 'execute', command: 'bulk', plan });
    await socket.waitFor('complete', { from, timeoutMs: 30_000 });
  }
}

interface Measured {
  /** Peak RSS over the flow, less RSS at its start. */
  rssGrowth: number;
  /** Live memory (after a full GC) at the end of the flow, less at its start. */
  liveGrowth: number;
  ms: number;
}

async function measure(server: ServerProcess, run: () => Promise<void>): Promise<Measured> {
  const pid = server.child.pid;
  if (pid === undefined) throw new Error('the server has no pid');
  // The JS heap: PGlite's WebAssembly memory (most of `external`, ~210 MiB here) grows in
  // steps with the database and never shrinks, which would drown what the sockets hold.
  const total = (m: { heap: number }) => m.heap;
  const liveBefore = total(await liveMemory(server));
  const watch = await watchRss(pid);
  const started = Date.now();
  await run();
  const ms = Date.now() - started;
  const peak = await watch.stop();
  const liveAfter = total(await liveMemory(server));
  return { rssGrowth: peak - watch.baseline, liveGrowth: liveAfter - liveBefore, ms };
}

/** A client that stops reading: its socket is paused, so the server's send buffer fills. */
function stopReading(socket: TestSocket): () => void {
  const raw = (socket.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  raw.pause();
  return () => raw.resume();
}

/** The stored event with this seq (`connected` carries the last seq too, but is a reply). */
const storedSeq = (seq: number) => (e: WireEvent) => e.seq === seq && e.type !== 'connected';

async function socketsOpen(server: ServerProcess): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return valueOf(parsePrometheusText(text), 'hitl_sockets_open');
}

/**
 * PostgreSQL: commits do not wait for the WAL flush (`synchronous_commit=off` as a connection
 * parameter), which halves the flow's time here; what is measured is the server's memory.
 */
function withoutCommitWait(data: DurableData): DurableData {
  const url = data.env['DATABASE_URL'];
  if (url) {
    const parsed = new URL(url);
    parsed.searchParams.set('synchronous_commit', 'off');
    data.env['DATABASE_URL'] = parsed.toString();
  }
  return data;
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

describe.each(testTargets())('slow consumers on $name', ({ backend, transport, name }) => {
  let data: DurableData;
  let server: ServerProcess;
  let sessionId: string;
  let slow: { socket: TestSocket; resume: () => void }[] = [];
  /** The seq the stuck sockets joined after, and the last seq of the flow they missed. */
  let joinedAfter = 0;
  let lastSeq = 0;

  beforeAll(async () => {
    data = withoutCommitWait(await createDurableData(backend, transport));
    server = await startServerScript('test/support/server-with-limits.ts', data, {
      SOCKET_LIMITS: JSON.stringify({ maxBackpressure: LIMIT }),
    });
  });
  afterAll(async () => {
    for (const { socket } of slow) socket.ws.terminate();
    await server?.stop();
    await data?.dispose();
  });

  it('drops the sockets that stop reading at the limit: memory stays bounded, the reader gets every event', async () => {
    sessionId = await createSession(server);
    const reader = await connect(server, { session_id: sessionId });
    await reader.waitFor('connected');
    // The same flow with no stuck socket first: it warms the server up (JIT, heap, the store's
    // caches), so that what the second flow adds is what its stuck sockets cost.
    const alone = await measure(server, () => flow(reader));
    joinedAfter = sessionEvents(reader.events).at(-1)?.seq ?? 0;
    for (let i = 0; i < SLOW; i++) {
      const socket = await connect(server, { session_id: sessionId });
      await socket.waitFor('connected');
      slow.push({ socket, resume: stopReading(socket) });
    }
    const stuck = await measure(server, () => flow(reader));
    lastSeq = sessionEvents(reader.events).at(-1)?.seq ?? 0;
    const fanOut = reader.events
      .filter((e) => e.seq > joinedAfter)
      .reduce((sum, e) => sum + JSON.stringify(e).length, 0);
    console.info(
      `slow consumers on ${name}: ${SLOW} stuck sockets + 1 reader, maxBackpressure ${LIMIT / KiB} KiB, ` +
        `${mib(fanOut)} of events per socket: peak RSS growth ${mib(stuck.rssGrowth)} ` +
        `(bound ${mib(RSS_BOUND)}; the same flow with no stuck socket: ${mib(alone.rssGrowth)}), ` +
        `live memory growth ${mib(stuck.liveGrowth)} (bound ${mib(LIVE_BOUND)}; alone ${mib(alone.liveGrowth)}); ` +
        `flow ${stuck.ms} ms (alone ${alone.ms} ms)`,
    );

    expect(stuck.rssGrowth).toBeLessThan(RSS_BOUND);
    expect(stuck.liveGrowth).toBeLessThan(LIVE_BOUND);
    // The reader got every event of both flows, in order, while the others were stuck.
    const events = sessionEvents(reader.events);
    expect(events[0]?.seq).toBe(1);
    expectContiguous(events);
    expect(events.filter((e) => e.type === 'complete')).toHaveLength(2 * EXECUTIONS);
    expect(Math.max(...events.map((e) => JSON.stringify(e).length))).toBeLessThanOrEqual(FRAME);
    // Far more than the kernel's buffers take: each stuck socket went over its limit.
    expect(fanOut).toBeGreaterThan(16 * MiB);
    // The server let go of every stuck socket while it was stuck: only the reader is open.
    expect(await socketsOpen(server)).toBe(1);
  }, 120_000);

  it('the dropped sockets see 1006 when they read again, and resume with last_seq, no gap', async () => {
    expect(slow).toHaveLength(SLOW);
    await Promise.all(
      slow.map(async ({ socket, resume }) => {
        resume();
        expect((await socket.closed).code).toBe(1006);
        const got = sessionEvents(socket.events);
        expect(got[0]?.seq).toBe(joinedAfter + 1);
        const lastGot = got.at(-1)?.seq ?? joinedAfter;
        expect(lastGot).toBeLessThan(lastSeq);
        const resumed = await connect(server, { session_id: sessionId, last_seq: lastGot });
        await resumed.waitFor(storedSeq(lastSeq), { timeoutMs: 60_000 });
        expectContiguous([...got, ...sessionEvents(resumed.events)]);
        await resumed.close();
      }),
    );
    slow = [];
  }, 120_000);
});
