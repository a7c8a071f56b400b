import { describe, expect, it } from 'vitest';
import { createManualClock } from '../support/manual-clock.ts';
import { testTargets } from '../support/targets.ts';
import { createSession, http, signToken, type App } from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import { expectWireValid, useTestApp } from './harness.ts';
import { FOUR_EYES_FLOW } from '../support/four-eyes.ts';

/**
 * The built-in transfer's four-eyes policy in AUTH_MODE=jwt with four users: above 10,000 it
 * takes two approvers, neither of them the requester, and escalates once to a finance lead.
 * Real sockets, real REST, a real store; time is a manual clock.
 */

const TTL_MS = 60_000;
const USERS = {
  /** Asks for the transfer; holds the approver role too, so only the policy refuses her. */
  ann: ['approver'],
  bob: ['approver'],
  cara: ['approver'],
  /** Decides once the request has been escalated. */
  finn: ['approver', 'finance_lead'],
} as const;
type User = keyof typeof USERS;

interface Seat {
  user: User;
  token: string;
  socket: TestSocket;
}

const tokenOf = (user: User) => signToken(user, { roles: [...USERS[user]] });

/** A session of ann's, with a socket of each of the four users on it. */
async function openTable(app: App): Promise<{ sessionId: string; seats: Record<User, Seat> }> {
  const sessionId = await createSession(app, await tokenOf('ann'));
  const seats = {} as Record<User, Seat>;
  for (const user of Object.keys(USERS) as User[]) {
    const token = await tokenOf(user);
    const socket = await connect(app, { session_id: sessionId, token });
    await socket.waitFor('connected');
    seats[user] = { user, token, socket };
  }
  return { sessionId, seats };
}

async function closeTable(seats: Record<User, Seat>) {
  for (const seat of Object.values(seats)) await seat.socket.close();
}

/** ann asks for a transfer; resolves with its approval_required. */
async function requestTransfer(ann: Seat, amount: number): Promise<WireEvent> {
  const from = ann.socket.events.length;
  ann.socket.send({ type: 'execute', command: `transfer ${amount} USD to carol` });
  return ann.socket.waitFor('approval_required', { from });
}

const later = (socket: TestSocket, type: string, earlier: WireEvent) =>
  socket.waitFor((e) => e.type === type && e.seq > earlier.seq);

/** The error that answers the message with this client id (sent to that socket only). */
const answerTo = (socket: TestSocket, id: string) =>
  socket.waitFor((e) => e.type === 'error' && e.data.id === id);

const log = async (app: App, token: string, sessionId: string) =>
  (
    await http<{ events: WireEvent[] }>(
      app,
      'GET',
      `/api/v1/sessions/${sessionId}/events?limit=1000`,
      { token },
    )
  ).body.events;

const pendingFor = async (app: App, token: string, requestId: string) => {
  const answer = await http<{ approvals: Record<string, unknown>[] }>(
    app,
    'GET',
    '/api/v1/approvals?status=pending',
    { token },
  );
  return answer.body.approvals.find((a) => a['request_id'] === requestId);
};

describe.each(testTargets())('approval policies on $name', ({ backend, transport }) => {
  const clock = createManualClock();
  const h = useTestApp({ backend, transport }, { clock, env: { APPROVAL_TTL_MS: String(TTL_MS) } });

  it('a 20,000 transfer: the requester is refused, one vote leaves it pending, a second approver runs it once', async () => {
    const { sessionId, seats } = await openTable(h.app);
    const { ann, bob, cara } = seats;
    const transfers = h.app.ledger.transfers();
    const required = await requestTransfer(ann, 20_000);
    const requestId = String(required.data.request_id);
    expect(required.data.policy).toEqual({
      quorum: 2,
      rejections_needed: 1,
      roles: ['approver'],
      exclude_requester: true,
      escalate: { to: 'finance_lead', times: 1, ttl_ms: TTL_MS },
    });

    ann.socket.send({ type: 'approve', request_id: requestId, id: 'own' });
    expect((await answerTo(ann.socket, 'own')).data).toMatchObject({
      code: 'approver_not_allowed',
      request_id: requestId,
    });

    bob.socket.send({ type: 'approve', request_id: requestId, id: 'b1' });
    const vote = await later(ann.socket, 'approval_vote', required);
    expect(vote.state).toBe('awaiting_approval');
    expect(vote.data).toEqual({
      request_id: requestId,
      call_id: required.data.call_id,
      decided_by: 'bob',
      vote: 'approve',
      votes_so_far: 1,
      needed: 2,
    });

    // What each user's inbox says now: the votes so far and whether they may vote.
    expect(await pendingFor(h.app, cara.token, requestId)).toMatchObject({
      votes: [{ by: 'bob', vote: 'approve' }],
      votes_so_far: 1,
      needed: 2,
      may_vote: true,
    });
    expect(await pendingFor(h.app, bob.token, requestId)).toMatchObject({
      may_vote: false,
      refusal: 'already_voted',
    });
    expect(await pendingFor(h.app, ann.token, requestId)).toMatchObject({
      may_vote: false,
      refusal: 'approver_not_allowed',
    });

    bob.socket.send({ type: 'approve', request_id: requestId, id: 'b2' });
    expect((await answerTo(bob.socket, 'b2')).data.code).toBe('already_voted');
    const twice = await http(h.app, 'POST', `/api/v1/approvals/${requestId}/approve`, {
      token: bob.token,
    });
    expect(twice).toMatchObject({ status: 409, body: { error: { code: 'already_voted' } } });
    expect(h.app.ledger.transfers()).toBe(transfers);

    cara.socket.send({ type: 'approve', request_id: requestId });
    const approved = await later(ann.socket, 'approved', vote);
    expect(approved.data.decided_by).toEqual(['bob', 'cara']);
    await later(ann.socket, 'complete', approved);
    expect(h.app.ledger.transfers()).toBe(transfers + 1);

    const events = await log(h.app, ann.token, sessionId);
    expect(events.map((e) => e.type)).toEqual(FOUR_EYES_FLOW);
    const record = await http(h.app, 'GET', `/api/v1/approvals?status=approved`, {
      token: bob.token,
    });
    expect(
      (record.body as { approvals: { request_id: string }[] }).approvals.find(
        (a) => a.request_id === requestId,
      ),
    ).toMatchObject({ status: 'approved', decided_by: 'bob, cara' });
    expectWireValid(ann.socket.events);
    await closeTable(seats);
  });

  it('a reject by either approver rejects it, before or after the other voted', async () => {
    const { seats } = await openTable(h.app);
    const { ann, bob, cara } = seats;
    const transfers = h.app.ledger.transfers();
    const first = await requestTransfer(ann, 20_000);
    bob.socket.send({ type: 'reject', request_id: first.data.request_id, reason: 'no' });
    const rejected = await later(ann.socket, 'rejected', first);
    expect(rejected.data).toMatchObject({ decided_by: ['bob'], reason: 'no' });
    const done = await later(ann.socket, 'complete', rejected);

    const second = await requestTransfer(ann, 20_000);
    expect(second.seq).toBeGreaterThan(done.seq);
    bob.socket.send({ type: 'approve', request_id: second.data.request_id });
    await later(ann.socket, 'approval_vote', second);
    const answer = await http(h.app, 'POST', `/api/v1/approvals/${second.data.request_id}/reject`, {
      token: cara.token,
      body: { reason: 'not this quarter' },
    });
    expect(answer).toMatchObject({ status: 200, body: { status: 'rejected', decided_by: 'cara' } });
    const again = await later(ann.socket, 'rejected', second);
    expect(again.data).toMatchObject({ decided_by: ['cara'], reason: 'not this quarter' });
    await later(ann.socket, 'complete', again);
    expect(h.app.ledger.transfers()).toBe(transfers);
    await closeTable(seats);
  });

  it('two approvers at the same instant, over two sockets or a socket and REST: one approved, one transfer, both votes', async () => {
    const { sessionId, seats } = await openTable(h.app);
    const { ann, bob, cara } = seats;
    for (const over of ['sockets', 'socket and REST'] as const) {
      const transfers = h.app.ledger.transfers();
      const required = await requestTransfer(ann, 25_000);
      const requestId = String(required.data.request_id);
      bob.socket.send({ type: 'approve', request_id: requestId });
      if (over === 'sockets') cara.socket.send({ type: 'approve', request_id: requestId });
      const rest =
        over === 'socket and REST'
          ? http(h.app, 'POST', `/api/v1/approvals/${requestId}/approve`, { token: cara.token })
          : undefined;
      const approved = await later(ann.socket, 'approved', required);
      expect(approved.data.decided_by).toEqual(expect.arrayContaining(['bob', 'cara']));
      if (rest) expect((await rest).status).toBe(200);
      await later(ann.socket, 'complete', approved);
      expect(h.app.ledger.transfers(), over).toBe(transfers + 1);
      const events = (await log(h.app, ann.token, sessionId)).filter((e) => e.seq > required.seq);
      const about = events.filter((e) => e.data.request_id === requestId);
      expect(
        about.map((e) => e.type),
        over,
      ).toEqual(['approval_vote', 'approval_vote', 'approved']);
      expect(new Set(about.slice(0, 2).map((e) => String(e.data.decided_by))), over).toEqual(
        new Set(['bob', 'cara']),
      );
      expect(
        events.filter((e) => e.type === 'tool_result'),
        over,
      ).toHaveLength(1);
    }
    await closeTable(seats);
  });

  it('unanswered, it escalates once to finance_lead with a new deadline, then expires as a rejection', async () => {
    const { sessionId, seats } = await openTable(h.app);
    const { ann, bob, finn } = seats;
    const required = await requestTransfer(ann, 30_000);
    const requestId = String(required.data.request_id);
    const deadline = Date.parse(String(required.data.expires_at));
    clock.advance(TTL_MS);
    const escalated = await later(ann.socket, 'approval_escalated', required);
    expect(escalated.state).toBe('awaiting_approval');
    expect(escalated.data).toEqual({
      request_id: requestId,
      call_id: required.data.call_id,
      to: 'finance_lead',
      expires_at: new Date(deadline + TTL_MS).toISOString(),
      escalations: 1,
      times: 1,
    });
    // Now only a finance lead may decide; the pending view says so, with the new deadline.
    bob.socket.send({ type: 'approve', request_id: requestId, id: 'late' });
    expect((await answerTo(bob.socket, 'late')).data.code).toBe('approver_not_allowed');
    expect(await pendingFor(h.app, finn.token, requestId)).toMatchObject({
      may_vote: true,
      escalations: 1,
      expires_at: escalated.data.expires_at,
      policy: { roles: ['finance_lead'] },
    });

    clock.advance(TTL_MS);
    const expired = await later(ann.socket, 'approval_expired', escalated);
    expect(expired.data.expires_at).toBe(escalated.data.expires_at);
    const done = await later(ann.socket, 'complete', expired);
    expect(done.data.summary).toContain('expired');
    const types = (await log(h.app, ann.token, sessionId)).map((e) => e.type);
    expect(types.filter((t) => t === 'approval_escalated')).toHaveLength(1);
    expect(
      (await http(h.app, 'GET', '/api/v1/approvals?status=expired', { token: finn.token })).body
        .approvals,
    ).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ request_id: requestId, status: 'expired' }),
      ]),
    );
    await closeTable(seats);
  });

  it('an escalated request: the finance lead completes it with the vote cast before', async () => {
    const { seats } = await openTable(h.app);
    const { ann, bob, finn } = seats;
    const required = await requestTransfer(ann, 12_000);
    bob.socket.send({ type: 'approve', request_id: required.data.request_id });
    await later(ann.socket, 'approval_vote', required);
    clock.advance(TTL_MS);
    const escalated = await later(ann.socket, 'approval_escalated', required);
    finn.socket.send({ type: 'approve', request_id: required.data.request_id });
    const approved = await later(ann.socket, 'approved', escalated);
    expect(approved.data.decided_by).toEqual(['bob', 'finn']);
    await closeTable(seats);
  });

  it('up to 10,000 the owner decides alone, as before policies', async () => {
    const { seats } = await openTable(h.app);
    const { ann } = seats;
    const required = await requestTransfer(ann, 5_000);
    expect(required.data).not.toHaveProperty('policy');
    ann.socket.send({ type: 'approve', request_id: required.data.request_id });
    const approved = await later(ann.socket, 'approved', required);
    expect(approved.data.decided_by).toBe('ann');
    const types = ann.socket.events.filter((e) => e.seq > required.seq).map((e) => e.type);
    expect(types).not.toContain('approval_vote');
    await closeTable(seats);
  });
});

describe.each(testTargets().slice(0, 1))('APPROVAL_POLICIES on $name', ({ backend, transport }) => {
  const h = useTestApp(
    { backend, transport },
    { env: { APPROVAL_POLICIES: '{"transfer":{"quorum":2,"users":["bob","cara"]}}' } },
  );

  it('replaces the built-in transfer policy: two named users, whatever the amount', async () => {
    const { seats } = await openTable(h.app);
    const { ann, bob, finn } = seats;
    const required = await requestTransfer(ann, 500);
    expect(required.data.policy).toEqual({
      quorum: 2,
      rejections_needed: 1,
      users: ['bob', 'cara'],
      exclude_requester: false,
    });
    finn.socket.send({ type: 'approve', request_id: required.data.request_id, id: 'f' });
    expect((await answerTo(finn.socket, 'f')).data.code).toBe('approver_not_allowed');
    bob.socket.send({ type: 'approve', request_id: required.data.request_id });
    const vote = await later(ann.socket, 'approval_vote', required);
    expect(vote.data).toMatchObject({ votes_so_far: 1, needed: 2 });
    await closeTable(seats);
  });
});
