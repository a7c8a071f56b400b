import { describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import {
  expectContiguous,
  openUserSession,
  sessionEvents,
  useTestApp,
  type UserSession,
} from './harness.ts';

const TEXT = 'x'.repeat(9_000);
const STEPS = 100;
/** ~8 MB of events: well past what the kernel's socket buffers hold for a client that stops reading. */
const EXECUTIONS = 4;

/** Runs one execute of STEPS echo calls (~2 MB of stored events) to its end. */
async function bulkExecute(socket: TestSocket): Promise<void> {
  const from = socket.events.length;
  const plan = Array.from({ length: STEPS }, () => ({ tool: 'echo', args: { text: TEXT } }));
  socket.send({ type: 'execute', command: 'bulk', plan });
  await socket.waitFor('complete', { from, timeoutMs: 30_000 });
}

/** The stored event with this seq (`connected` carries the last seq too, but is a reply). */
const storedSeq = (seq: number) => (e: WireEvent) => e.seq === seq && e.type !== 'connected';

/** A client that stops reading: its socket is paused, so the server's send buffer fills. */
function stopReading(socket: TestSocket): () => void {
  const raw = (socket.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  raw.pause();
  return () => raw.resume();
}

describe.each(testTargets())('backpressure on $name', ({ backend, transport }) => {
  // A 64 KiB send buffer, and messages large enough to carry a 100-step plan.
  const h = useTestApp(
    { backend, transport },
    {
      limits: {
        maxBackpressure: 64 * 1024,
        maxMessageBytes: 2 << 20,
        maxPayloadLength: 4 << 20,
        replayStallMs: 500,
      },
    },
  );
  let owner: UserSession;
  let lastSeq = 0;

  it('drops a live client that stops reading; the others go on; it resumes with no gap', async () => {
    owner = await openUserSession(h.app);
    const { token, sessionId } = owner;
    const slow = await connect(h.app, { session_id: sessionId, token });
    await slow.waitFor('connected');
    const resume = stopReading(slow);
    for (let i = 0; i < EXECUTIONS; i++) await bulkExecute(owner.socket);
    lastSeq = sessionEvents(owner.socket.events).at(-1)?.seq ?? 0;
    expect(lastSeq).toBeGreaterThan(EXECUTIONS * STEPS * 2);
    resume();
    expect((await slow.closed).code).toBe(1006);
    const got = sessionEvents(slow.events);
    expect(got.length).toBeLessThan(lastSeq);

    const resumed = await connect(h.app, {
      session_id: sessionId,
      token,
      last_seq: got.at(-1)?.seq ?? 0,
    });
    await resumed.waitFor(storedSeq(lastSeq), { timeoutMs: 20_000 });
    expectContiguous([...got, ...sessionEvents(resumed.events)]);
    await resumed.close();
  }, 120_000);

  it('replays a log far larger than the send buffer to a client that reads', async () => {
    const { token, sessionId } = owner;
    const reader = await connect(h.app, { session_id: sessionId, token, last_seq: 0 });
    await reader.waitFor(storedSeq(lastSeq), { timeoutMs: 30_000 });
    const replayed = sessionEvents(reader.events);
    expect(replayed[0]?.seq).toBe(1);
    expectContiguous(replayed);
    expect(reader.ws.readyState).toBe(reader.ws.OPEN);
    await reader.close();
  }, 60_000);

  it('drops a client that reads nothing of its replay', async () => {
    const { token, sessionId } = owner;
    const stalled = await connect(h.app, { session_id: sessionId, token, last_seq: 0 });
    const resume = stopReading(stalled);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    resume();
    expect((await stalled.closed).code).toBe(1006);
    expect(sessionEvents(stalled.events).length).toBeLessThan(lastSeq);
    // The session is untouched: its owner's socket still works.
    owner.socket.send({ type: 'ping', id: 'after' });
    await owner.socket.waitFor((e) => e.type === 'pong' && e.data.id === 'after');
    await owner.socket.close();
  }, 60_000);
});
