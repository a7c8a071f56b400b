import { describe, expect, it, vi } from 'vitest';
import type { App } from '../support/test-app.ts';
import { http } from '../support/test-app.ts';
import { testTargets } from '../support/targets.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import { expectContiguous, openUserSession, sessionEvents, useTestApp } from './harness.ts';

/**
 * Passivation over real sockets and a real database: idle sessions leave memory after
 * PASSIVATE_AFTER_MS and come back on their next connect, REST read or message, with nothing a
 * client could tell apart. `runtime.inMemory` is only read to know that a passivation happened.
 */

const PASSIVATE_AFTER_MS = 100;
const APPROVAL_TTL_MS = 4_000;

async function requestTransfer(socket: TestSocket): Promise<WireEvent> {
  const from = socket.events.length;
  socket.send({ type: 'execute', command: 'transfer 250 USD to alice' });
  return socket.waitFor('approval_required', { from });
}

async function untilPassivated(app: App, sessionId: string): Promise<void> {
  await vi.waitFor(() => expect(app.runtime.inMemory(sessionId)).toBe(false), {
    timeout: 3_000,
    interval: 10,
  });
}

/** A session of alice's awaiting approval of a transfer, its socket closed, then passivated. */
async function passivatedTransfer(app: App) {
  const { socket, sessionId, token } = await openUserSession(app, 'alice');
  const transfers = app.ledger.transfers();
  const required = await requestTransfer(socket);
  await socket.close();
  await untilPassivated(app, sessionId);
  return { sessionId, token, required, transfers };
}

/** Waits for the stored session (read from the store, which does not load it) to be in `state`. */
async function untilStored(app: App, sessionId: string, state: string): Promise<void> {
  await vi.waitFor(async () => expect((await app.store.getSession(sessionId))?.state).toBe(state), {
    timeout: 5_000,
    interval: 20,
  });
}

describe.each(testTargets())('passivation on $name', ({ backend, transport }) => {
  const h = useTestApp(
    { backend, transport },
    {
      env: {
        PASSIVATE_AFTER_MS: String(PASSIVATE_AFTER_MS),
        APPROVAL_TTL_MS: String(APPROVAL_TTL_MS),
      },
    },
  );

  it('approves a session passivated while awaiting approval over a new socket: one transfer', async () => {
    const { sessionId, token, required, transfers } = await passivatedTransfer(h.app);

    const again = await connect(h.app, { session_id: sessionId, token, last_seq: required.seq });
    const connected = await again.waitFor('connected');
    expect(connected.seq).toBe(required.seq);
    expect(connected.data).toMatchObject({
      state: 'awaiting_approval',
      last_seq: required.seq,
      pending_approvals: [
        {
          request_id: required.data.request_id,
          call_id: required.data.call_id,
          expires_at: required.data.expires_at,
        },
      ],
    });
    again.send({ type: 'approve', request_id: required.data.request_id });
    await again.waitFor('complete');
    const events = sessionEvents(again.events);
    expect(events.map((e) => e.type)).toEqual(['approved', 'tool_call', 'tool_result', 'complete']);
    expect(events[0]?.seq).toBe(required.seq + 1);
    expectContiguous(events);
    expect(h.app.ledger.transfers()).toBe(transfers + 1);
    await again.close();
  });

  it('expires an approval while its session is passivated, then replays it from last_seq', async () => {
    const { sessionId, token, required, transfers } = await passivatedTransfer(h.app);

    const requestId = String(required.data.request_id);
    await vi.waitFor(
      async () => expect((await h.app.store.getApproval(requestId))?.status).toBe('expired'),
      { timeout: APPROVAL_TTL_MS + 5_000, interval: 50 },
    );
    const expired = await h.app.store.getApproval(requestId);
    expect(expired?.decided_by).toBe('system');
    expect(Date.parse(expired?.decided_at ?? '')).toBeGreaterThanOrEqual(
      Date.parse(String(required.data.expires_at)),
    );
    await untilStored(h.app, sessionId, 'complete');

    const again = await connect(h.app, { session_id: sessionId, token, last_seq: required.seq });
    await again.waitFor('complete');
    const events = sessionEvents(again.events);
    expect(events.map((e) => e.type)).toEqual(['approval_expired', 'complete']);
    expect(events[0]?.seq).toBe(required.seq + 1);
    expectContiguous(events);
    expect(h.app.ledger.transfers()).toBe(transfers);
    await again.close();
  });

  it('reads and replays across passivations with no gap: REST, REST approve, last_seq', async () => {
    const { socket, sessionId, token } = await openUserSession(h.app, 'alice');
    const required = await requestTransfer(socket);
    const before = await http(h.app, 'GET', `/api/v1/sessions/${sessionId}`, { token });
    await socket.close();
    await untilPassivated(h.app, sessionId);

    // A REST read brings it back as it was.
    const read = await http(h.app, 'GET', `/api/v1/sessions/${sessionId}`, { token });
    expect(read).toEqual(before);
    expect(read.body).toMatchObject({ state: 'awaiting_approval', last_seq: required.seq });
    await untilPassivated(h.app, sessionId);

    // A REST decision to the passivated session: it runs to the end with no socket on it.
    const approve = `/api/v1/approvals/${String(required.data.request_id)}/approve`;
    const decided = await http(h.app, 'POST', approve, { token, body: {} });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ status: 'approved', decided_by: 'alice' });
    await untilStored(h.app, sessionId, 'complete');
    await untilPassivated(h.app, sessionId);

    const again = await connect(h.app, { session_id: sessionId, token, last_seq: required.seq });
    await again.waitFor('complete');
    const replayed = sessionEvents(again.events);
    const from = again.events.length;
    again.send({ type: 'execute', command: 'echo after the passivations' });
    await again.waitFor('complete', { from });
    const events = sessionEvents(again.events);
    expect(events.length).toBeGreaterThan(replayed.length);
    expect(events[0]?.seq).toBe(required.seq + 1);
    expectContiguous(events);
    const log = await http<{ events: WireEvent[] }>(
      h.app,
      'GET',
      `/api/v1/sessions/${sessionId}/events?after_seq=${required.seq}`,
      { token },
    );
    expect(events.map((e) => [e.seq, e.type])).toEqual(log.body.events.map((e) => [e.seq, e.type]));
    await again.close();
  });

  it('applies a REST decision racing a passivation exactly once', async () => {
    for (const delayMs of [0, 1, 2, 5]) {
      const { socket, sessionId, token } = await openUserSession(h.app, 'alice');
      const transfers = h.app.ledger.transfers();
      const required = await requestTransfer(socket);
      await socket.close();
      // Idle by the rule: the sweep may take it at any moment now, and so do we.
      await new Promise((resolve) => setTimeout(resolve, PASSIVATE_AFTER_MS));
      const approve = `/api/v1/approvals/${String(required.data.request_id)}/approve`;
      const swept = h.app.runtime.passivateIdle();
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const decided = await http(h.app, 'POST', approve, { token, body: {} });
      await swept;
      expect(decided.status, `after ${delayMs} ms`).toBe(200);
      await untilStored(h.app, sessionId, 'complete');

      const log = await http<{ events: WireEvent[] }>(
        h.app,
        'GET',
        `/api/v1/sessions/${sessionId}/events`,
        { token },
      );
      const types = log.body.events.map((e) => e.type);
      expect(
        types.filter((t) => t === 'approved'),
        `after ${delayMs} ms`,
      ).toHaveLength(1);
      expect(types.at(-1)).toBe('complete');
      expectContiguous(log.body.events);
      expect(h.app.ledger.transfers()).toBe(transfers + 1);
    }
  });
});
