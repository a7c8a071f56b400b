import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../test/support/manual-clock.ts';
import { errorCode, useSessionRuntime } from '../../test/support/test-runtime.ts';

const setup = useSessionRuntime();

/** Starts `transfer 250 USD to alice` and waits for its approval request. */
async function awaitingTransfer(t: Awaited<ReturnType<typeof setup>>, command?: string) {
  const text = command ?? 'transfer 250 USD to alice';
  await t.runtime.send(t.session.id, { type: 'execute', command: text }, 'dev');
  const required = await t.watch.waitFor('approval_required');
  return required.data.request_id;
}

describe('approval decisions', () => {
  it('waits for a human, then runs the transfer on approve', async () => {
    const t = await setup();
    const requestId = await awaitingTransfer(t);
    const required = await t.watch.waitFor('approval_required');
    expect(required.state).toBe('awaiting_approval');
    expect(required.data).toMatchObject({
      tool: 'transfer',
      args: { amount: 250, currency: 'USD', to: 'alice' },
      reason: expect.stringContaining('above the 100 USD limit'),
    });
    expect(t.session.pendingApprovals()).toEqual([
      expect.objectContaining({ request_id: requestId }),
    ]);
    expect(t.ledger.transfers()).toBe(0);
    expect((await t.runtime.getApproval(requestId))?.status).toBe('pending');

    await t.runtime.send(t.session.id, { type: 'approve', request_id: requestId }, 'bob');
    const approved = await t.watch.waitFor('approved');
    expect(approved.data).toEqual({
      request_id: requestId,
      call_id: required.data.call_id,
      decided_by: 'bob',
    });
    await t.watch.waitFor('complete');
    expect(t.ledger.balance('alice')).toBe(1_250);
    expect(t.ledger.transfers()).toBe(1);
    expect(t.session.pendingApprovals()).toEqual([]);
    expect(await t.runtime.getApproval(requestId)).toMatchObject({
      status: 'approved',
      decided_by: 'bob',
    });
    expect(t.watch.invalid).toEqual([]);
  });

  it('skips the transfer on reject, and the answer gives the reason', async () => {
    const t = await setup();
    const requestId = await awaitingTransfer(t);
    await t.runtime.send(
      t.session.id,
      { type: 'reject', request_id: requestId, reason: 'not this month' },
      'bob',
    );
    const rejected = await t.watch.waitFor('rejected');
    expect(rejected.data).toMatchObject({ decided_by: 'bob', reason: 'not this month' });
    expect(rejected.state).toBe('thinking');
    const complete = await t.watch.waitFor('complete');
    expect(complete.data.summary).toContain('not this month');
    expect(t.ledger.transfers()).toBe(0);
    expect(t.ledger.balance('alice')).toBe(1_000);
    expect(await t.runtime.getApproval(requestId)).toMatchObject({
      status: 'rejected',
      decision_reason: 'not this month',
    });
    expect(t.watch.types()).not.toContain('tool_call');
  });

  it('moves the edited amount on edit, never the original', async () => {
    const t = await setup();
    const requestId = await awaitingTransfer(t);
    const edited = { to: 'alice', amount: 50, currency: 'USD' };
    await t.runtime.send(
      t.session.id,
      { type: 'edit', request_id: requestId, edited_args: edited },
      'bob',
    );
    const editApproved = await t.watch.waitFor('edit_approved');
    expect(editApproved.data).toMatchObject({
      decided_by: 'bob',
      original_args: { amount: 250, currency: 'USD', to: 'alice' },
      edited_args: edited,
    });
    expect((await t.watch.waitFor('tool_call')).data.args).toEqual(edited);
    await t.watch.waitFor('complete');
    expect([t.ledger.balance('alice'), t.ledger.transfers()]).toEqual([1_050, 1]);
    expect(await t.runtime.getApproval(requestId)).toMatchObject({
      status: 'edited',
      edited_args: edited,
    });
  });

  it('refuses edited args the tool would not accept, and keeps the request pending', async () => {
    const t = await setup();
    const requestId = await awaitingTransfer(t);
    const edit = t.runtime.send(
      t.session.id,
      { type: 'edit', request_id: requestId, edited_args: { to: 'alice', amount: -5 } },
      'bob',
    );
    expect(await errorCode(edit)).toBe('invalid_tool_args');
    expect((await t.runtime.getApproval(requestId))?.status).toBe('pending');
    expect(t.session.state()).toBe('awaiting_approval');
  });

  it('runs the transfer once when approved twice', async () => {
    const t = await setup();
    const requestId = await awaitingTransfer(t);
    await t.runtime.send(t.session.id, { type: 'approve', request_id: requestId }, 'bob');
    const again = t.runtime.send(t.session.id, { type: 'approve', request_id: requestId }, 'carol');
    expect(await errorCode(again)).toBe('approval_already_decided');
    await t.watch.waitFor('complete');
    expect(t.ledger.transfers()).toBe(1);
    expect((await t.runtime.getApproval(requestId))?.decided_by).toBe('bob');
  });

  it('runs the transfer once when two approvals race', async () => {
    const t = await setup();
    const requestId = await awaitingTransfer(t);
    const results = await Promise.allSettled([
      t.runtime.send(t.session.id, { type: 'approve', request_id: requestId }, 'bob'),
      t.runtime.send(t.session.id, { type: 'approve', request_id: requestId }, 'carol'),
      t.runtime.send(t.session.id, { type: 'reject', request_id: requestId }, 'dave'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    for (const result of results.slice(1)) {
      expect(result.status === 'rejected' && (result.reason as { code: string }).code).toBe(
        'approval_already_decided',
      );
    }
    await t.watch.waitFor('complete');
    expect(t.ledger.transfers()).toBe(1);
    expect(t.watch.types().filter((type) => type === 'approved')).toHaveLength(1);
    expect(t.watch.types()).not.toContain('rejected');
  });
});

describe('approval expiry', () => {
  it('expires at expires_at, continues the plan, and refuses a late approve', async () => {
    const clock = createManualClock();
    const t = await setup({ clock });
    const plan = [
      { tool: 'transfer', args: { to: 'alice', amount: 250, currency: 'USD' } },
      { tool: 'echo', args: { text: 'after' } },
    ];
    await t.runtime.send(t.session.id, { type: 'execute', command: 'pay', plan }, 'dev');
    const required = await t.watch.waitFor('approval_required');
    const deadline = Date.parse(required.data.expires_at);
    expect(deadline - clock.now()).toBe(15 * 60_000);
    expect(required.timestamp).toBe(new Date(clock.now()).toISOString());

    clock.advance(deadline - clock.now() - 1);
    await t.session.flush();
    expect(t.session.state()).toBe('awaiting_approval');

    clock.advance(1);
    const expired = await t.watch.waitFor('approval_expired');
    expect(expired.data).toMatchObject({
      request_id: required.data.request_id,
      expires_at: required.data.expires_at,
    });
    const complete = await t.watch.waitFor('complete');
    expect(complete.data.summary).toContain('transfer skipped: approval expired');
    expect(complete.data.summary).toContain('echo ok');
    expect(t.ledger.transfers()).toBe(0);
    expect(await t.runtime.getApproval(required.data.request_id)).toMatchObject({
      status: 'expired',
      decided_by: 'system',
    });

    const late = t.runtime.send(
      t.session.id,
      { type: 'approve', request_id: required.data.request_id },
      'bob',
    );
    expect(await errorCode(late)).toBe('approval_already_decided');
    expect(t.ledger.transfers()).toBe(0);
  });

  it('does not expire a request that was approved first', async () => {
    const clock = createManualClock();
    const t = await setup({ clock });
    const requestId = await awaitingTransfer(t);
    await t.runtime.send(t.session.id, { type: 'approve', request_id: requestId }, 'bob');
    clock.advance(60 * 60_000);
    await t.watch.waitFor('complete');
    expect(t.watch.types()).not.toContain('approval_expired');
    expect((await t.runtime.getApproval(requestId))?.status).toBe('approved');
    expect(t.ledger.transfers()).toBe(1);
  });
});

describe('subagent approvals', () => {
  it('surfaces the subagent approval on the session and routes the decision to it', async () => {
    const t = await setup();
    const subPlan = [
      { tool: 'transfer', args: { to: 'bob', amount: 500, currency: 'USD' } },
      { tool: 'echo', args: { text: 'in sub' } },
    ];
    const plan = [{ tool: 'delegate', args: { task: 'pay bob', plan: subPlan } }];
    await t.runtime.send(t.session.id, { type: 'execute', command: 'delegate', plan }, 'dev');
    const start = await t.watch.waitFor('subagent_start');
    const subagentId = start.data.subagent_id;
    const required = await t.watch.waitFor('approval_required');
    expect(required.data).toMatchObject({ subagent_id: subagentId, tool: 'transfer' });
    expect(t.session.pendingApprovals()).toEqual([
      expect.objectContaining({ request_id: required.data.request_id, subagent_id: subagentId }),
    ]);
    expect((await t.runtime.getApproval(required.data.request_id))?.subagent_id).toBe(subagentId);

    await t.runtime.send(
      t.session.id,
      { type: 'approve', request_id: required.data.request_id },
      'bob',
    );
    const end = await t.watch.waitFor('subagent_end');
    expect(end.data).toMatchObject({ subagent_id: subagentId, status: 'complete' });
    // The first complete is the session's: the subagent's end is its subagent_end alone.
    const complete = await t.watch.waitFor('complete');
    expect(complete.data.subagent_id).toBeUndefined();
    expect(complete.execution_id).toBe(start.execution_id);
    expect(t.ledger.balance('bob')).toBe(1_000);
    expect(t.ledger.transfers()).toBe(1);
    const subEvents = t.watch.events.filter(
      (e) => (e.data as { subagent_id?: string }).subagent_id === subagentId,
    );
    expect(subEvents.map((e) => e.type)).toEqual([
      'subagent_start',
      'thinking',
      'approval_required',
      'approved',
      'tool_call',
      'tool_result',
      'tool_call',
      'tool_result',
      'subagent_end',
    ]);
    expect(subEvents.every((e) => e.state === 'executing' || e.type === 'subagent_end')).toBe(true);
    expect(t.watch.invalid).toEqual([]);
  });
});
