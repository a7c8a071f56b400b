import { describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import { expectWireValid, openUserSession, useTestApp } from './harness.ts';

/** Starts a transfer that needs approval; resolves with its approval_required event. */
async function requestTransfer(socket: TestSocket, amount: number, to = 'alice') {
  const from = socket.events.length;
  socket.send({ type: 'execute', command: `transfer ${amount} USD to ${to}` });
  return socket.waitFor('approval_required', { from });
}

/** The first event of `type` after `after` (an earlier event of the same execution). */
function after(socket: TestSocket, type: string, earlier: WireEvent): Promise<WireEvent> {
  return socket.waitFor((e) => e.type === type && e.seq > earlier.seq);
}

function errorFor(socket: TestSocket, id: string): Promise<WireEvent> {
  return socket.waitFor((e) => e.type === 'error' && e.data.id === id);
}

describe.each(testTargets())('decisions over the socket on $name', ({ backend, transport }) => {
  const h = useTestApp({ backend, transport });

  it('approve runs the transfer once, as approved', async () => {
    const { socket } = await openUserSession(h.app, 'alice');
    const before = h.app.ledger.balance('alice');
    const transfers = h.app.ledger.transfers();
    const required = await requestTransfer(socket, 250);
    expect(required.state).toBe('awaiting_approval');
    expect(required.data).toMatchObject({
      tool: 'transfer',
      args: { to: 'alice', amount: 250, currency: 'USD' },
    });
    expect(Date.parse(String(required.data.expires_at))).toBeGreaterThan(Date.now());
    expect(h.app.ledger.transfers()).toBe(transfers);

    socket.send({ type: 'approve', request_id: required.data.request_id });
    const approved = await after(socket, 'approved', required);
    expect(approved.data).toMatchObject({
      request_id: required.data.request_id,
      call_id: required.data.call_id,
      decided_by: 'alice',
    });
    const result = await after(socket, 'tool_result', approved);
    expect(result.data.result).toMatchObject({ to: 'alice', amount: 250 });
    await after(socket, 'complete', result);
    expect(h.app.ledger.balance('alice')).toBe(before + 250);
    expect(h.app.ledger.transfers()).toBe(transfers + 1);
    expectWireValid(socket.events);
    await socket.close();
  });

  it('reject runs nothing and the summary gives the reason', async () => {
    const { socket } = await openUserSession(h.app);
    const transfers = h.app.ledger.transfers();
    const required = await requestTransfer(socket, 300);
    socket.send({ type: 'reject', request_id: required.data.request_id, reason: 'not today' });
    const rejected = await after(socket, 'rejected', required);
    expect(rejected.data).toMatchObject({ decided_by: 'alice', reason: 'not today' });
    const complete = await after(socket, 'complete', rejected);
    expect(complete.data.summary).toContain('not today');
    expect(socket.events.filter((e) => e.type === 'tool_result')).toEqual([]);
    expect(h.app.ledger.transfers()).toBe(transfers);
    await socket.close();
  });

  it('edit moves the edited amount, not the requested one', async () => {
    const { socket } = await openUserSession(h.app);
    const before = h.app.ledger.balance('alice');
    const required = await requestTransfer(socket, 500);
    const edited = { to: 'alice', amount: 120, currency: 'USD' };
    socket.send({ type: 'edit', request_id: required.data.request_id, edited_args: edited });
    const event = await after(socket, 'edit_approved', required);
    expect(event.data).toMatchObject({
      decided_by: 'alice',
      original_args: { to: 'alice', amount: 500, currency: 'USD' },
      edited_args: edited,
    });
    await after(socket, 'complete', event);
    expect(h.app.ledger.balance('alice')).toBe(before + 120);
    expectWireValid(socket.events);
    await socket.close();
  });

  it('refuses edited args the tool does not accept, and keeps the request open', async () => {
    const { socket } = await openUserSession(h.app);
    const required = await requestTransfer(socket, 200);
    const request_id = required.data.request_id;
    socket.send({ type: 'edit', id: 'e1', request_id, edited_args: { amount: 'lots' } });
    expect((await errorFor(socket, 'e1')).data).toMatchObject({
      code: 'invalid_tool_args',
      request_id,
    });
    socket.send({ type: 'reject', request_id, reason: 'cleanup' });
    await after(socket, 'complete', required);
    await socket.close();
  });

  it('cancel while executing stops the tool at once', async () => {
    const { socket } = await openUserSession(h.app, 'alice');
    socket.send({ type: 'execute', command: 'sleep 10000' });
    const call = await socket.waitFor('tool_call');
    expect(call.state).toBe('executing');
    const started = Date.now();
    socket.send({ type: 'cancel' });
    const cancelled = await after(socket, 'cancelled', call);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.data).toMatchObject({
      execution_id: call.execution_id,
      cancelled_by: 'alice',
      aborted: [{ kind: 'tool', id: call.data.call_id, tool: 'sleep' }],
    });
    // The session is free again: a new execution runs and the sleep never reports back.
    socket.send({ type: 'execute', command: 'echo next' });
    await after(socket, 'complete', cancelled);
    expect(
      socket.events.filter((e) => e.type === 'tool_result').map((e): unknown => e.data.tool),
    ).toEqual(['echo']);
    await socket.close();
  });

  it('cancel while awaiting approval: a late approve is refused and runs nothing', async () => {
    const { socket } = await openUserSession(h.app);
    const transfers = h.app.ledger.transfers();
    const required = await requestTransfer(socket, 400);
    const request_id = required.data.request_id;
    socket.send({ type: 'cancel', execution_id: required.execution_id });
    const cancelled = await after(socket, 'cancelled', required);
    expect(cancelled.data.aborted).toEqual([
      { kind: 'approval', id: request_id, tool: 'transfer' },
    ]);
    socket.send({ type: 'approve', id: 'late', request_id });
    const error = await errorFor(socket, 'late');
    expect(error.data).toMatchObject({ code: 'approval_already_decided', request_id });
    expect(error.state).toBe('cancelled');
    expect(h.app.ledger.transfers()).toBe(transfers);
    expect(socket.events.some((e) => e.type === 'approved')).toBe(false);
    await socket.close();
  });

  it('answers an unknown request_id with approval_not_found', async () => {
    const { socket } = await openUserSession(h.app);
    socket.send({ type: 'approve', id: 'q1', request_id: 'req_nope' });
    const error = await errorFor(socket, 'q1');
    expect(error.data).toMatchObject({ code: 'approval_not_found', request_id: 'req_nope' });
    await socket.close();
  });

  it('answers a decision the idle session is not waiting for with not_allowed_in_state', async () => {
    const { socket, sessionId } = await openUserSession(h.app);
    // A pending row the actor does not wait on (as left by a crash between write and send).
    await h.app.store.createApproval({
      request_id: `req_stale_${sessionId}`,
      session_id: sessionId,
      execution_id: 'exec_old',
      call_id: 'call_old',
      tool: 'transfer',
      args: { to: 'alice', amount: 500, currency: 'USD' },
      edited_args: null,
      reason: 'stale',
      status: 'pending',
      decided_by: null,
      decided_at: null,
      decision_reason: null,
      expires_at: new Date(Date.now() + 60_000).toISOString(),
      created_at: new Date().toISOString(),
      subagent_id: null,
    });
    socket.send({ type: 'approve', id: 'i1', request_id: `req_stale_${sessionId}` });
    const error = await errorFor(socket, 'i1');
    expect(error.data.code).toBe('not_allowed_in_state');
    expect(error.state).toBe('idle');
    expect((await h.app.store.getApproval(`req_stale_${sessionId}`))?.status).toBe('pending');
    await socket.close();
  });

  it('a double approve (two sockets racing) runs one transfer', async () => {
    const { token, sessionId, socket } = await openUserSession(h.app);
    const second = await connect(h.app, { session_id: sessionId, token });
    await second.waitFor('connected');
    const transfers = h.app.ledger.transfers();
    const required = await requestTransfer(socket, 150);
    const request_id = required.data.request_id;
    socket.send({ type: 'approve', id: 'one', request_id });
    second.send({ type: 'approve', id: 'two', request_id });
    socket.send({ type: 'approve', id: 'three', request_id });
    await after(socket, 'complete', required);
    // Which approve wins depends on the network; exactly one does, the other two are refused.
    const refusals = () =>
      [...socket.events, ...second.events].filter((e) => e.type === 'error' && e.data.id);
    await Promise.race([socket, second].map((s) => s.waitFor(() => refusals().length >= 2)));
    expect(refusals().map((e): unknown => e.data.code)).toEqual([
      'approval_already_decided',
      'approval_already_decided',
    ]);
    expect(socket.events.filter((e) => e.type === 'approved')).toHaveLength(1);
    expect(h.app.ledger.transfers()).toBe(transfers + 1);
    await Promise.all([socket.close(), second.close()]);
  });
});
