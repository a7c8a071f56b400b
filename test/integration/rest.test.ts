import { beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { http, signToken } from '../support/test-app.ts';
import type { TestSocket } from '../support/ws-client.ts';
import { openUserSession, useTestApp } from './harness.ts';

const ZERO_HASH = '0'.repeat(64);

/** Starts a transfer that needs approval on the socket; resolves with its request id. */
async function pendingTransfer(socket: TestSocket, amount: number): Promise<string> {
  const from = socket.events.length;
  socket.send({ type: 'execute', command: `transfer ${amount} USD to bob` });
  return (await socket.waitFor('approval_required', { from })).data.request_id as string;
}

describe.each(testTargets())('REST API on $name', ({ backend, transport }) => {
  const h = useTestApp({ backend, transport });
  let alice: string;
  beforeAll(async () => {
    alice = await signToken('alice');
  });

  it('creates a session (201) and describes it', async () => {
    const created = await http(h.app, 'POST', '/api/v1/sessions', { token: alice });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^ses_/), state: 'idle' });
    const got = await http(h.app, 'GET', `/api/v1/sessions/${created.body.id}`, { token: alice });
    expect(got).toEqual({
      status: 200,
      body: {
        id: created.body.id,
        owner: 'alice',
        state: 'idle',
        last_seq: 0,
        pending_approvals: [],
      },
    });
  });

  it('shows a pending approval on the session until it is decided', async () => {
    const { socket, sessionId, token } = await openUserSession(h.app, 'alice');
    const requestId = await pendingTransfer(socket, 220);
    const got = await http(h.app, 'GET', `/api/v1/sessions/${sessionId}`, { token });
    expect(got.body.state).toBe('awaiting_approval');
    expect(got.body.pending_approvals).toEqual([
      expect.objectContaining({ request_id: requestId, tool: 'transfer' }),
    ]);
    socket.send({ type: 'reject', request_id: requestId });
    await socket.waitFor('complete');
    const after = await http(h.app, 'GET', `/api/v1/sessions/${sessionId}`, { token });
    expect(after.body).toMatchObject({ state: 'complete', pending_approvals: [] });
    await socket.close();
  });

  it('pages the hash-chained audit log with after_seq and limit', async () => {
    const { socket, sessionId, token } = await openUserSession(h.app, 'alice');
    socket.send({ type: 'execute', command: 'echo one' });
    await socket.waitFor('complete');
    socket.send({ type: 'execute', command: 'echo two' });
    await socket.waitFor((e) => e.type === 'complete' && e.seq > 4);
    const path = `/api/v1/sessions/${sessionId}/events`;
    const all = await http(h.app, 'GET', path, { token });
    expect(all.status).toBe(200);
    expect(all.body.last_seq).toBe(8);
    const events = all.body.events as Array<{
      seq: number;
      type: string;
      prev_hash: string;
      hash: string;
    }>;
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(events.map((e) => e.type).slice(0, 4)).toEqual([
      'thinking',
      'tool_call',
      'tool_result',
      'complete',
    ]);
    expect(events[0]?.prev_hash).toBe(ZERO_HASH);
    events.forEach((event, i) => {
      expect(event.hash).toMatch(/^[0-9a-f]{64}$/);
      if (i > 0) expect(event.prev_hash).toBe(events[i - 1]?.hash);
    });
    const page = await http(h.app, 'GET', `${path}?after_seq=2&limit=3`, { token });
    expect(page.body.events).toEqual(events.slice(2, 5));
    const end = await http(h.app, 'GET', `${path}?after_seq=8`, { token });
    expect(end.body.events).toEqual([]);
    const bad = await http(h.app, 'GET', `${path}?limit=0`, { token });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'invalid_query' } } });
    await socket.close();
  });

  it('lists pending approvals the caller may see', async () => {
    const mine = await openUserSession(h.app, 'alice');
    const theirs = await openUserSession(h.app, 'mallory');
    const myRequest = await pendingTransfer(mine.socket, 130);
    const theirRequest = await pendingTransfer(theirs.socket, 140);
    const ids = async (token: string, query = '?status=pending') => {
      const answer = await http(h.app, 'GET', `/api/v1/approvals${query}`, { token });
      expect(answer.status).toBe(200);
      return (answer.body.approvals as Array<{ request_id: string; status: string }>).map(
        (a) => a.request_id,
      );
    };
    const forAlice = await ids(mine.token);
    expect(forAlice).toContain(myRequest);
    expect(forAlice).not.toContain(theirRequest);
    expect(await ids(theirs.token)).toEqual([theirRequest]);
    const approver = await signToken('root', { roles: ['approver'] });
    expect(await ids(approver)).toEqual(expect.arrayContaining([myRequest, theirRequest]));
    const bad = await http(h.app, 'GET', '/api/v1/approvals?status=maybe', { token: alice });
    expect(bad.status).toBe(400);
    for (const { socket } of [mine, theirs]) {
      socket.send({ type: 'cancel' });
      await socket.waitFor('cancelled');
    }
    expect(await ids(theirs.token)).toEqual([]);
    expect(await ids(theirs.token, '?status=cancelled')).toEqual([theirRequest]);
    await Promise.all([mine.socket.close(), theirs.socket.close()]);
  });

  describe('decisions', () => {
    it('approve over REST reaches the socket', async () => {
      const { socket, token } = await openUserSession(h.app, 'alice');
      const transfers = h.app.ledger.transfers();
      const requestId = await pendingTransfer(socket, 110);
      const answer = await http(h.app, 'POST', `/api/v1/approvals/${requestId}/approve`, { token });
      expect(answer).toMatchObject({
        status: 200,
        body: { request_id: requestId, status: 'approved', decided_by: 'alice' },
      });
      expect((await socket.waitFor('approved')).data).toMatchObject({
        request_id: requestId,
        decided_by: 'alice',
      });
      await socket.waitFor('complete');
      expect(h.app.ledger.transfers()).toBe(transfers + 1);
      const again = await http(h.app, 'POST', `/api/v1/approvals/${requestId}/approve`, { token });
      expect(again).toMatchObject({
        status: 409,
        body: { error: { code: 'approval_already_decided' } },
      });
      expect(h.app.ledger.transfers()).toBe(transfers + 1);
      await socket.close();
    });

    it('reject over REST reaches the socket with its reason', async () => {
      const { socket, token } = await openUserSession(h.app, 'alice');
      const requestId = await pendingTransfer(socket, 111);
      const answer = await http(h.app, 'POST', `/api/v1/approvals/${requestId}/reject`, {
        token,
        body: { reason: 'over budget' },
      });
      expect(answer.body).toMatchObject({ status: 'rejected', decision_reason: 'over budget' });
      expect((await socket.waitFor('rejected')).data.reason).toBe('over budget');
      expect((await socket.waitFor('complete')).data.summary).toContain('over budget');
      await socket.close();
    });

    it('edit over REST reaches the socket and moves the edited amount', async () => {
      const { socket, token } = await openUserSession(h.app, 'alice');
      const before = h.app.ledger.balance('bob');
      const requestId = await pendingTransfer(socket, 900);
      const edited_args = { to: 'bob', amount: 101, currency: 'USD' };
      const answer = await http(h.app, 'POST', `/api/v1/approvals/${requestId}/edit`, {
        token,
        body: { edited_args },
      });
      expect(answer.body).toMatchObject({ status: 'edited', edited_args });
      expect((await socket.waitFor('edit_approved')).data.edited_args).toEqual(edited_args);
      await socket.waitFor('complete');
      expect(h.app.ledger.balance('bob')).toBe(before + 101);
      await socket.close();
    });

    it("answers 404 for another user's approval and an unknown one; an approver may decide", async () => {
      const { socket } = await openUserSession(h.app, 'alice');
      const requestId = await pendingTransfer(socket, 333);
      const bob = await signToken('bob');
      const foreign = await http(h.app, 'POST', `/api/v1/approvals/${requestId}/approve`, {
        token: bob,
      });
      const unknown = await http(h.app, 'POST', '/api/v1/approvals/req_nope/approve', {
        token: bob,
      });
      // Not told apart from an unknown request: same status, same code.
      for (const answer of [foreign, unknown]) {
        expect(answer).toMatchObject({
          status: 404,
          body: { error: { code: 'approval_not_found' } },
        });
      }
      const edit = await http(h.app, 'POST', `/api/v1/approvals/${requestId}/edit`, {
        token: bob,
        body: { edited_args: { to: 'bob', amount: 1, currency: 'USD' } },
      });
      expect(edit.status).toBe(404);
      expect((await h.app.store.getApproval(requestId))?.status).toBe('pending');
      // An approver may decide it.
      const approver = await signToken('root', { roles: ['approver'] });
      const decided = await http(h.app, 'POST', `/api/v1/approvals/${requestId}/reject`, {
        token: approver,
      });
      expect(decided.body).toMatchObject({ status: 'rejected', decided_by: 'root' });
      expect((await socket.waitFor('rejected')).data.decided_by).toBe('root');
      await socket.close();
    });

    it('answers a body over 64 KiB with 413 and invalid JSON with 400', async () => {
      const post = (body: string) =>
        fetch(`${h.app.url}/api/v1/approvals/req_x/reject`, {
          method: 'POST',
          headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
          body,
        });
      const large = await post(JSON.stringify({ reason: 'x'.repeat(65 * 1024) }));
      expect(large.status).toBe(413);
      expect(await large.json()).toMatchObject({ error: { code: 'payload_too_large' } });
      const broken = await post('{"reason":');
      expect(broken.status).toBe(400);
      expect(await broken.json()).toMatchObject({ error: { code: 'invalid_json' } });
    });
  });

  it('refuses a session body that is not JSON (400), too large (413) or not an object (400)', async () => {
    const token = await signToken('alice');
    const post = (body: string) =>
      fetch(`${h.app.url}/api/v1/sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
    const broken = await post('{"owner":');
    expect([broken.status, await broken.json()]).toMatchObject([
      400,
      { error: { code: 'invalid_json' } },
    ]);
    const large = await post(JSON.stringify({ note: 'x'.repeat(100 * 1024) }));
    expect([large.status, await large.json()]).toMatchObject([
      413,
      { error: { code: 'payload_too_large' } },
    ]);
    const list = await post('[1,2]');
    expect([list.status, await list.json()]).toMatchObject([
      400,
      { error: { code: 'invalid_message' } },
    ]);
    // An empty body and {} still create one.
    expect((await post('')).status).toBe(201);
    expect((await post('{}')).status).toBe(201);
  });

  it('answers unknown routes (404) and wrong methods (405) in JSON', async () => {
    for (const [method, path, status, code] of [
      ['GET', '/nope', 404, 'not_found'],
      ['GET', '/api/v1/sessions/x/y/z', 404, 'not_found'],
      ['PUT', '/api/v1/sessions', 405, 'method_not_allowed'],
      ['DELETE', '/api/v1/sessions/ses_x', 405, 'method_not_allowed'],
      ['GET', '/api/v1/approvals/req_x/approve', 405, 'method_not_allowed'],
    ] as const) {
      const response = await fetch(`${h.app.url}${path}`, { method });
      expect(response.status, `${method} ${path}`).toBe(status);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(await response.json()).toMatchObject({ error: { code } });
    }
  });

  it('answers /healthz and /readyz without a token', async () => {
    expect(await http(h.app, 'GET', '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await http(h.app, 'GET', '/readyz')).toEqual({
      status: 200,
      body: { status: 'ready', store: h.app.store.kind },
    });
  });
});
