import { describe, expect, it } from 'vitest';
import type { SessionEvent } from './session.events.ts';
import { resolvePolicy, type ApprovalPolicyInput } from './session.policy.ts';
import {
  BY,
  approvalOf,
  call,
  execute,
  start,
  toAwaiting,
  type Harness,
} from '../test/support/session-harness.ts';

/** The chart under an approval policy: votes counted in context, escalation on expiry. */

const TTL = 60_000;
const FOUR_EYES: ApprovalPolicyInput = {
  quorum: 2,
  roles: ['approver'],
  exclude_requester: true,
  escalate: { to: 'finance_lead', times: 1 },
};

async function awaitingUnder(h: Harness, policy: ApprovalPolicyInput) {
  h.actor.send(execute());
  const c = call('c1', 'transfer', { to: 'bob', amount: 20_000 });
  const approval = { ...approvalOf(c), policy: resolvePolicy(policy, TTL) };
  (await h.planner.nth(1)).resolve({ kind: 'call', call: c, approval });
  await h.reach('awaiting_approval');
  return approval;
}

const APPROVER = ['approver'];
const vote = (
  type: 'approve' | 'reject',
  by: string,
  roles: readonly string[] = APPROVER,
): SessionEvent => ({ type, request_id: 'req_c1', by, roles });
const editBy = (by: string, amount: number): SessionEvent => ({
  type: 'edit',
  request_id: 'req_c1',
  by,
  roles: APPROVER,
  edited_args: { to: 'bob', amount },
});
const data = (h: Harness, type: string) =>
  h.emitted.filter((e) => e.type === type).map((e) => e.data);

describe('a four-eyes policy', () => {
  it('copies the policy in force into approval_required', async () => {
    const h = start();
    await awaitingUnder(h, FOUR_EYES);
    expect(h.find('approval_required')?.data.policy).toEqual({
      quorum: 2,
      rejections_needed: 1,
      roles: ['approver'],
      exclude_requester: true,
      escalate: { to: 'finance_lead', times: 1, ttl_ms: TTL },
    });
  });

  it('counts one vote, stays waiting, and runs once the second approver agrees', async () => {
    const h = start();
    await awaitingUnder(h, FOUR_EYES);
    h.actor.send(vote('approve', 'bob'));
    expect(h.state()).toBe('awaiting_approval');
    expect(data(h, 'approval_vote')).toEqual([
      {
        request_id: 'req_c1',
        call_id: 'c1',
        decided_by: 'bob',
        vote: 'approve',
        votes_so_far: 1,
        needed: 2,
      },
    ]);
    expect(h.actor.getSnapshot().context.pending?.votes).toEqual([{ by: 'bob', vote: 'approve' }]);
    h.actor.send(vote('approve', 'carol'));
    await h.reach({ executing: 'tool' });
    expect(data(h, 'approval_vote').at(-1)).toMatchObject({ votes_so_far: 2, needed: 2 });
    expect(data(h, 'approved')).toEqual([
      { request_id: 'req_c1', call_id: 'c1', decided_by: ['bob', 'carol'] },
    ]);
    expect(h.types().slice(-3)).toEqual(['approval_vote', 'approved', 'tool_call']);
  });

  it('takes no vote from the requester, a second one from the same user, or a role it does not name', async () => {
    const h = start();
    await awaitingUnder(h, FOUR_EYES);
    const snapshot = () => h.actor.getSnapshot();
    expect(snapshot().can(vote('approve', BY))).toBe(false);
    expect(snapshot().can(vote('approve', 'dave', ['viewer']))).toBe(false);
    h.actor.send(vote('approve', 'bob'));
    expect(snapshot().can(vote('approve', 'bob'))).toBe(false);
    expect(snapshot().can(vote('reject', 'bob'))).toBe(false);
    h.actor.send(vote('approve', 'bob'));
    h.actor.send(vote('approve', BY));
    expect(h.state()).toBe('awaiting_approval');
    expect(data(h, 'approval_vote')).toHaveLength(1);
  });

  it('is rejected by one reject, naming the rejecter', async () => {
    const h = start();
    await awaitingUnder(h, FOUR_EYES);
    h.actor.send(vote('approve', 'bob'));
    h.actor.send({ ...vote('reject', 'carol'), reason: 'too much' } as SessionEvent);
    await h.planner.nth(2);
    expect(data(h, 'rejected')).toEqual([
      { request_id: 'req_c1', call_id: 'c1', decided_by: ['carol'], reason: 'too much' },
    ]);
    expect(h.tool.calls).toHaveLength(0);
  });

  it('needs as many rejects as the policy says', async () => {
    const h = start();
    await awaitingUnder(h, { ...FOUR_EYES, rejections_needed: 2 });
    h.actor.send(vote('reject', 'bob'));
    expect(h.state()).toBe('awaiting_approval');
    expect(data(h, 'approval_vote')).toMatchObject([
      { vote: 'reject', votes_so_far: 1, needed: 2 },
    ]);
    h.actor.send(vote('reject', 'carol'));
    await h.planner.nth(2);
    expect(data(h, 'rejected')).toMatchObject([{ decided_by: ['bob', 'carol'] }]);
  });

  it('resets the votes on an edit, and runs the edited args once the quorum agrees on them', async () => {
    const h = start();
    await awaitingUnder(h, FOUR_EYES);
    h.actor.send(vote('approve', 'bob'));
    h.actor.send(editBy('carol', 15_000));
    expect(h.state()).toBe('awaiting_approval');
    expect(data(h, 'approval_vote').at(-1)).toEqual({
      request_id: 'req_c1',
      call_id: 'c1',
      decided_by: 'carol',
      vote: 'edit',
      votes_so_far: 1,
      needed: 2,
      edited_args: { to: 'bob', amount: 15_000 },
      reset_votes: ['bob'],
    });
    // bob approved other args: his vote is gone, so he votes again, on these.
    h.actor.send(vote('approve', 'bob'));
    const running = await h.tool.nth(1);
    expect(running.input.call.args).toEqual({ to: 'bob', amount: 15_000 });
    expect(data(h, 'edit_approved')).toEqual([
      {
        request_id: 'req_c1',
        call_id: 'c1',
        decided_by: ['carol', 'bob'],
        original_args: { to: 'bob', amount: 20_000 },
        edited_args: { to: 'bob', amount: 15_000 },
      },
    ]);
    expect(h.types()).not.toContain('approved');
  });

  it('escalates once on expiry, with a new deadline and only the new role, then expires', async () => {
    const h = start();
    const approval = await awaitingUnder(h, FOUR_EYES);
    h.actor.send(vote('approve', 'bob'));
    h.timers[0]!.fire();
    expect(h.state()).toBe('awaiting_approval');
    const deadline = new Date(Date.parse(approval.expires_at) + TTL).toISOString();
    expect(data(h, 'approval_escalated')).toEqual([
      {
        request_id: 'req_c1',
        call_id: 'c1',
        to: 'finance_lead',
        expires_at: deadline,
        escalations: 1,
        times: 1,
      },
    ]);
    // The timer is armed again, on the new deadline; the old one is stopped.
    expect(h.timers.map((t) => [t.input.expires_at, t.input.escalates, t.stopped])).toEqual([
      [approval.expires_at, true, true],
      [deadline, false, false],
    ]);
    expect(h.actor.getSnapshot().can(vote('approve', 'carol'))).toBe(false);
    expect(h.actor.getSnapshot().can(vote('approve', 'erin', ['finance_lead']))).toBe(true);
    h.timers[1]!.fire();
    await h.planner.nth(2);
    expect(data(h, 'approval_expired')).toEqual([
      { request_id: 'req_c1', call_id: 'c1', expires_at: deadline },
    ]);
    expect(data(h, 'approval_escalated')).toHaveLength(1);
  });

  it('counts the votes cast before an escalation: a finance lead completes it', async () => {
    const h = start();
    await awaitingUnder(h, FOUR_EYES);
    h.actor.send(vote('approve', 'bob'));
    h.timers[0]!.fire();
    h.actor.send(vote('approve', 'erin', ['finance_lead']));
    await h.reach({ executing: 'tool' });
    expect(data(h, 'approved')).toMatchObject([{ decided_by: ['bob', 'erin'] }]);
  });

  it('takes a replayed decision as deciding: it was accepted before a crash', async () => {
    const h = start();
    await awaitingUnder(h, FOUR_EYES);
    h.actor.send(vote('approve', 'bob'));
    h.actor.send({ type: 'approve', request_id: 'req_c1', by: 'carol', replayed: true });
    await h.reach({ executing: 'tool' });
    expect(data(h, 'approved')).toMatchObject([{ decided_by: ['bob', 'carol'] }]);
  });
  it('ends on a replayed expiry, an escalation left or not: it was committed as the end', async () => {
    const h = start();
    await awaitingUnder(h, FOUR_EYES);
    h.actor.send({ type: 'approval.expired', request_id: 'req_c1', replayed: true });
    await h.planner.nth(2);
    expect(h.types()).toContain('approval_expired');
    expect(h.types()).not.toContain('approval_escalated');
  });
});

describe('without a policy', () => {
  it('decides on one vote as before, with no approval_vote and decided_by a string', async () => {
    const h = start();
    await toAwaiting(h);
    expect(h.find('approval_required')?.data).not.toHaveProperty('policy');
    h.actor.send({ type: 'approve', request_id: 'req_c1', by: BY });
    await h.reach({ executing: 'tool' });
    expect(h.types()).toEqual(['thinking', 'approval_required', 'approved', 'tool_call']);
    expect(h.find('approved')?.data.decided_by).toBe(BY);
  });

  it('expires as before: no escalation', async () => {
    const h = start();
    await toAwaiting(h);
    expect(h.timers[0]!.input.escalates).toBe(false);
    h.timers[0]!.fire();
    await h.planner.nth(2);
    expect(h.types()).toContain('approval_expired');
    expect(h.types()).not.toContain('approval_escalated');
  });
});
