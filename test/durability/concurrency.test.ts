import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import type { App } from '../support/test-app.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';
import { createSession, http, signToken, startTestApp } from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import { auditLog } from './wire.ts';

/** Requests raced at once: enough for the two decisions to really meet. */
const RACES = 20;

interface Contest {
  sessionId: string;
  requestId: string;
  owner: TestSocket;
  approver: TestSocket;
}

describe.each(testTargets())('racing decisions on $name', ({ backend, transport }) => {
  let db: TestStore;
  let app: App;
  let alice: string;
  let bob: string;
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    db = await openTestStore(backend);
    app = await startTestApp({ transport, store: db.store });
    alice = await signToken('alice');
    bob = await signToken('bob', { roles: ['approver'] });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.ws.terminate();
    await app?.close();
    await db?.dispose();
  });

  async function open(sessionId: string, token: string): Promise<TestSocket> {
    const socket = await connect(app, { session_id: sessionId, token });
    sockets.push(socket);
    await socket.waitFor('connected');
    return socket;
  }

  /** A session of alice's with a transfer waiting, watched by alice and by bob. */
  async function contest(): Promise<Contest> {
    const sessionId = await createSession(app, alice);
    const owner = await open(sessionId, alice);
    const approver = await open(sessionId, bob);
    owner.send({ type: 'execute', command: 'transfer 250 USD to alice' });
    const required = await approver.waitFor('approval_required');
    return { sessionId, requestId: String(required.data.request_id), owner, approver };
  }

  const count = (socket: TestSocket, type: string) =>
    socket.events.filter((e) => e.type === type).length;
  const refusal = (socket: TestSocket, requestId: string) =>
    socket.waitFor((e) => e.type === 'error' && e.data.request_id === requestId, {
      timeoutMs: 10_000,
    });

  /** One decision won: one `approved`, one transfer, and the session completed. */
  async function expectOneWinner(c: Contest): Promise<WireEvent> {
    const approved = await c.owner.waitFor('approved', { timeoutMs: 10_000 });
    await c.owner.waitFor('complete', { timeoutMs: 10_000 });
    await c.approver.waitFor('complete', { timeoutMs: 10_000 });
    const log = await auditLog(app, c.sessionId, alice);
    expect(log.filter((e) => e.type === 'approved')).toHaveLength(1);
    expect(log.filter((e) => e.type === 'tool_result')).toHaveLength(1);
    expect(count(c.owner, 'approved')).toBe(1);
    expect(count(c.approver, 'approved')).toBe(1);
    return approved;
  }

  it('two sockets approving one request at once: one approved, one refusal, one transfer', async () => {
    const contests = await Promise.all(Array.from({ length: RACES }, contest));
    const transfersBefore = app.ledger.transfers();
    for (const [i, c] of contests.entries()) {
      const fromAlice = () =>
        c.owner.send({ type: 'approve', request_id: c.requestId, id: 'from-alice' });
      const fromBob = () =>
        c.approver.send({ type: 'approve', request_id: c.requestId, id: 'from-bob' });
      // Who sends first alternates, so either may win.
      if (i % 2 === 0) {
        fromAlice();
        fromBob();
      } else {
        fromBob();
        fromAlice();
      }
    }
    const winners = await Promise.all(
      contests.map(async (c) => {
        const approved = await expectOneWinner(c);
        const loser = approved.data.decided_by === 'alice' ? c.approver : c.owner;
        const winner = loser === c.owner ? c.approver : c.owner;
        const error = await refusal(loser, c.requestId);
        expect(error.data).toMatchObject({
          code: 'approval_already_decided',
          id: loser === c.owner ? 'from-alice' : 'from-bob',
        });
        // The refusal is the loser's alone.
        expect(winner.events.filter((e) => e.type === 'error')).toEqual([]);
        return String(approved.data.decided_by);
      }),
    );
    expect(app.ledger.transfers() - transfersBefore).toBe(RACES);
    const approvals = await db.store.listApprovals({ status: 'approved' });
    const decided = new Map(approvals.map((a) => [a.request_id, a.decided_by]));
    expect(contests.map((c) => decided.get(c.requestId))).toEqual(winners);
  });

  it('a socket and REST approving one request at once: exactly one of them wins', async () => {
    const contests = await Promise.all(Array.from({ length: RACES }, contest));
    const transfersBefore = app.ledger.transfers();
    const answers = await Promise.all(
      contests.map(async (c, i) => {
        const rest = http<{ status?: string; error?: { code: string } }>(
          app,
          'POST',
          `/api/v1/approvals/${c.requestId}/approve`,
          { token: bob, body: {} },
        );
        // REST has more to do before it decides: a head start of 0-38 ms sweeps the socket's
        // message across the moment where the two meet.
        await new Promise((resolve) => setTimeout(resolve, 2 * i));
        c.owner.send({ type: 'approve', request_id: c.requestId });
        return rest;
      }),
    );
    const winners: string[] = [];
    for (const [i, c] of contests.entries()) {
      const approved = await expectOneWinner(c);
      winners.push(String(approved.data.decided_by));
      const answer = answers[i]!;
      if (approved.data.decided_by === 'bob') {
        expect(answer).toMatchObject({ status: 200, body: { status: 'approved' } });
        const error = await refusal(c.owner, c.requestId);
        expect(error.data.code).toBe('approval_already_decided');
      } else {
        expect(approved.data.decided_by).toBe('alice');
        expect(answer).toMatchObject({
          status: 409,
          body: { error: { code: 'approval_already_decided' } },
        });
        expect(c.owner.events.filter((e) => e.type === 'error')).toEqual([]);
      }
    }
    expect(app.ledger.transfers() - transfersBefore).toBe(RACES);
    const approvals = await db.store.listApprovals({ status: 'approved' });
    const decided = new Map(approvals.map((a) => [a.request_id, a.decided_by]));
    expect(contests.map((c) => decided.get(c.requestId))).toEqual(winners);
  });
});
