import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BadForwardReply,
  BusUnavailable,
  ForwardTimeout,
  NoOwnerResponding,
} from '../../src/cluster/bus-errors.ts';
import { errorOf, type BusRequest, type CommandRequest } from '../../src/cluster/command-wire.ts';
import { connectBus, type Bus, type BusFrame, type BusStatus } from '../../src/cluster/nats-bus.ts';
import { AppError } from '../../src/errors.ts';
import { hasNatsServer, startNatsServer, type TestNatsServer } from '../support/nats-server.ts';

const logger = pino({ level: 'silent' });

const request = (id: string): CommandRequest => ({
  command: { type: 'approve', request_id: 'req_1', id },
  by: 'user_2',
  roles: ['approver'],
  origin: 'node-a',
});

/** How long a promise takes to settle, and with what. */
async function timed<T>(promise: Promise<T>) {
  const started = performance.now();
  const outcome = await promise.then(
    (value) => ({ value, error: undefined }),
    (error: unknown) => ({ value: undefined, error }),
  );
  return { ...outcome, ms: performance.now() - started };
}

function statuses(bus: Bus): BusStatus[] {
  const seen: BusStatus[] = [];
  bus.onStatus((status) => seen.push(status));
  return seen;
}

describe.skipIf(!hasNatsServer())('the NATS bus', () => {
  let server: TestNatsServer;
  let a: Bus;
  let b: Bus;

  beforeAll(async () => {
    server = await startNatsServer();
    a = await connectBus({ url: server.url, nodeId: 'node-a', logger });
    b = await connectBus({ url: server.url, nodeId: 'node-b', logger });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await server?.dispose();
  });

  it("forwards a command to the session's server and brings its reply back", async () => {
    const seen: BusRequest[] = [];
    const stop = await b.serveCommands('ses_round', (req) => {
      seen.push(req);
      return Promise.resolve({ ok: true });
    });
    await expect(a.forward('ses_round', request('c1'), 2_000)).resolves.toEqual({ ok: true });
    expect(seen).toEqual([request('c1')]);
    await stop();
  });

  it("brings the owner's refusal back as the same AppError", async () => {
    const stop = await b.serveCommands('ses_refused', () => {
      throw new AppError('not_allowed_in_state', 'no pending approval', 409, {
        retry_after_ms: 5,
        request_id: 'req_1',
      });
    });
    const reply = await a.forward('ses_refused', request('c2'), 2_000);
    expect(reply).toEqual({
      ok: false,
      error: {
        code: 'not_allowed_in_state',
        message: 'no pending approval',
        status: 409,
        retry_after_ms: 5,
        data: { request_id: 'req_1' },
      },
    });
    if (reply.ok) throw new Error('unreachable');
    const error = errorOf(reply.error);
    expect([error.code, error.status, error.details]).toEqual([
      'not_allowed_in_state',
      409,
      { request_id: 'req_1', retry_after_ms: 5 },
    ]);
    await stop();
  });

  it('answers an internal failure as internal_error, without its message', async () => {
    const stop = await b.serveCommands('ses_throws', () => Promise.reject(new Error('SQL leak')));
    const reply = await a.forward('ses_throws', request('c3'), 2_000);
    expect(reply).toEqual({
      ok: false,
      error: { code: 'internal_error', message: 'internal error', status: 500 },
    });
    await stop();
  });

  it('rejects with NoOwnerResponding at once when nobody serves the session', async () => {
    const { error, ms } = await timed(a.forward('ses_nobody', request('c4'), 5_000));
    expect(error).toBeInstanceOf(NoOwnerResponding);
    expect((error as AppError).code).toBe('owner_not_responding');
    console.info(`no responders answered in ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(250);
  });

  it('stops serving once unsubscribed', async () => {
    const stop = await b.serveCommands('ses_unsub', () => Promise.resolve({ ok: true }));
    await expect(a.forward('ses_unsub', request('c5'), 2_000)).resolves.toEqual({ ok: true });
    await stop();
    await expect(a.forward('ses_unsub', request('c6'), 2_000)).rejects.toBeInstanceOf(
      NoOwnerResponding,
    );
  });

  it('rejects with ForwardTimeout when the server does not answer in time', async () => {
    const stop = await b.serveCommands('ses_slow', () => new Promise(() => {}));
    const { error, ms } = await timed(a.forward('ses_slow', request('c7'), 150));
    expect(error).toBeInstanceOf(ForwardTimeout);
    expect(ms).toBeGreaterThanOrEqual(140);
    await stop();
  });

  it('gives exactly one of two servers of a session each command', async () => {
    let calls = 0;
    const handler = () => {
      calls += 1;
      return Promise.resolve({ ok: true as const });
    };
    const stopA = await a.serveCommands('ses_two', handler);
    const stopB = await b.serveCommands('ses_two', handler);
    for (let i = 0; i < 10; i += 1) await a.forward('ses_two', request(`t${i}`), 2_000);
    expect(calls).toBe(10);
    await stopA();
    await stopB();
  });

  it('answers a malformed request with an error reply, and rejects a malformed reply', async () => {
    const raw = await connect({ servers: server.url });
    try {
      let calls = 0;
      const stop = await b.serveCommands('ses_bad', () => {
        calls += 1;
        return Promise.resolve({ ok: true });
      });
      const bad = [
        'not json',
        JSON.stringify({ ...request('c8'), command: { type: 'approve' } }),
        JSON.stringify({ ...request('c9'), command: { type: 'ping' } }),
        JSON.stringify({ command: request('c10').command }),
      ];
      for (const text of bad) {
        const answer = (await raw.request('session.ses_bad.cmd', text, { timeout: 2_000 })).json();
        expect(answer).toMatchObject({ ok: false, error: { code: 'bad_forward', status: 400 } });
      }
      expect(calls).toBe(0);
      await stop();

      const liar = raw.subscribe('session.ses_liar.cmd', {
        callback: (_err, msg) => void msg.respond(JSON.stringify({ ok: 'yes' })),
      });
      await raw.flush();
      await expect(a.forward('ses_liar', request('c11'), 2_000)).rejects.toBeInstanceOf(
        BadForwardReply,
      );
      liar.unsubscribe();
    } finally {
      await raw.close();
    }
  });

  it('refuses a session id that would name another subject', async () => {
    await expect(a.forward('ses.x.*', request('c12'), 1_000)).rejects.toMatchObject({
      code: 'invalid_session_id',
    });
  });

  it("carries a session's event and delta frames in order, marked", async () => {
    const frames: BusFrame[] = [];
    const stop = await b.followEvents('ses_evt', (frame) => frames.push(frame));
    a.publishEvent('ses_evt', '{"seq":1}');
    a.publishDelta('ses_evt', '{"seq":1,"delta":true}');
    a.publishEvent('ses_evt', '{"seq":2}');
    a.publishEvent('ses_other', '{"seq":9}');
    await vi.waitFor(() => expect(frames).toHaveLength(3), { timeout: 2_000, interval: 5 });
    expect(frames).toEqual([
      { kind: 'event', text: '{"seq":1}' },
      { kind: 'delta', text: '{"seq":1,"delta":true}' },
      { kind: 'event', text: '{"seq":2}' },
    ]);
    await stop();
    const later: BusFrame[] = [];
    const stopLater = await b.followEvents('ses_evt', (frame) => later.push(frame));
    a.publishEvent('ses_evt', '{"seq":3}');
    await vi.waitFor(() => expect(later).toHaveLength(1), { timeout: 2_000, interval: 5 });
    await stopLater();
    expect(frames).toHaveLength(3);
  });
});

describe.skipIf(!hasNatsServer())('the NATS bus while NATS restarts', () => {
  let server: TestNatsServer;
  let a: Bus;
  let b: Bus;

  beforeAll(async () => {
    server = await startNatsServer();
    a = await connectBus({ url: server.url, nodeId: 'node-a', logger });
    b = await connectBus({ url: server.url, nodeId: 'node-b', logger });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await server?.dispose();
  });

  it('fails forwards fast with BusUnavailable while NATS is down, and works after', async () => {
    const seenA = statuses(a);
    const seenB = statuses(b);
    expect(seenA).toEqual(['connected']);
    let answering = true;
    const stop = await b.serveCommands('ses_restart', () =>
      answering ? Promise.resolve({ ok: true }) : new Promise(() => {}),
    );
    await expect(a.forward('ses_restart', request('r1'), 2_000)).resolves.toEqual({ ok: true });

    // A forward in flight when NATS goes away fails then, not at its timeout.
    answering = false;
    const inFlight = timed(a.forward('ses_restart', request('r2'), 10_000));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.stop('SIGKILL');
    const cut = await inFlight;
    expect(cut.error).toBeInstanceOf(BusUnavailable);
    expect(cut.ms).toBeLessThan(2_000);
    expect(a.isConnected()).toBe(false);

    const down = await timed(a.forward('ses_restart', request('r3'), 5_000));
    expect(down.error).toBeInstanceOf(BusUnavailable);
    expect((down.error as AppError).message).toMatch(/NATS\) is disconnected; retry shortly/);
    expect((down.error as AppError).status).toBe(503);
    console.info(`a forward while NATS is down failed in ${down.ms.toFixed(2)} ms`);
    expect(down.ms).toBeLessThan(50);
    a.publishEvent('ses_restart', '{"seq":1}'); // dropped, not thrown

    answering = true;
    await server.restart();
    await vi.waitFor(() => expect(a.isConnected() && b.isConnected()).toBe(true), {
      timeout: 5_000,
      interval: 10,
    });
    expect(seenA).toEqual(['connected', 'disconnected', 'reconnected']);
    expect(seenB).toEqual(['connected', 'disconnected', 'reconnected']);
    // B's subscription was sent again on its reconnect.
    await vi.waitFor(
      () => expect(a.forward('ses_restart', request('r4'), 2_000)).resolves.toEqual({ ok: true }),
      { timeout: 5_000, interval: 50 },
    );
    await stop();
  });

  it('refuses to connect to a NATS that is not there, with BusUnavailable', async () => {
    const gone = await startNatsServer();
    const url = gone.url;
    await gone.dispose();
    await expect(connectBus({ url, nodeId: 'node-c', logger })).rejects.toBeInstanceOf(
      BusUnavailable,
    );
  });

  it('answers the commands it has in hand before it closes', async () => {
    const c = await connectBus({ url: server.url, nodeId: 'node-c', logger });
    let started: () => void = () => {};
    const handling = new Promise<void>((resolve) => (started = resolve));
    await c.serveCommands('ses_closing', async () => {
      started();
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { ok: true };
    });
    const reply = a.forward('ses_closing', request('r6'), 2_000);
    await handling;
    await c.close();
    await expect(reply).resolves.toEqual({ ok: true });
  });

  it('fails forwards once closed', async () => {
    const c = await connectBus({ url: server.url, nodeId: 'node-c', logger });
    await c.close();
    expect(c.isConnected()).toBe(false);
    await expect(c.forward('ses_restart', request('r5'), 1_000)).rejects.toThrow(/closed/);
  });
});
