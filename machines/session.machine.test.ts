import { afterEach, describe, expect, it, vi } from 'vitest';
import { ToolOutcomeUnknown } from './session.machine.ts';
import {
  BY,
  approvalOf,
  approve,
  call,
  cancel,
  edit,
  execute,
  reject,
  start,
  toAwaiting,
  toExecuting,
  type Harness,
} from '../test/support/session-harness.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('idle', () => {
  it('goes to thinking on execute and runs the planner with the command', async () => {
    const h = start();
    h.actor.send({ ...execute(), plan: [{ tool: 'echo', args: { text: 'x' } }] });
    expect(h.state()).toBe('thinking');
    const { input } = await h.planner.nth(1);
    expect(input).toMatchObject({
      execution_id: 'exec_1',
      command: 'pay bob',
      history: [],
      depth: 0,
    });
    expect(input.plan).toEqual([{ tool: 'echo', args: { text: 'x' } }]);
    expect(h.emitted).toEqual([
      {
        type: 'thinking',
        execution_id: 'exec_1',
        data: { execution_id: 'exec_1', command: 'pay bob', plan_steps: 1 },
      },
    ]);
  });

  it('refuses decisions and cancel', () => {
    const snapshot = start().actor.getSnapshot();
    for (const event of [approve(), reject(), edit({}), cancel()]) {
      expect(snapshot.can(event), event.type).toBe(false);
    }
    expect(snapshot.can(execute())).toBe(true);
  });
});

describe('thinking', () => {
  it('completes on a final answer', async () => {
    const h = start();
    h.actor.send(execute());
    (await h.planner.nth(1)).resolve({ kind: 'final', summary: 'all done' });
    await h.reach('complete');
    expect(h.find('complete')?.data).toEqual({
      execution_id: 'exec_1',
      summary: 'all done',
      steps: 0,
    });
  });

  it('waits for approval when the call needs one, with a timer on its deadline', async () => {
    const h = start();
    const approval = await toAwaiting(h);
    expect(h.find('approval_required')?.data).toEqual({
      request_id: 'req_c1',
      call_id: 'c1',
      tool: 'transfer',
      args: { to: 'bob', amount: 500 },
      reason: 'above the limit',
      expires_at: approval.expires_at,
    });
    expect(h.timers.map((t) => t.input)).toEqual([
      {
        session_id: 'ses_1',
        request_id: 'req_c1',
        escalates: false,
        expires_at: approval.expires_at,
      },
    ]);
    expect(h.tool.calls).toHaveLength(0);
  });

  it('executes a call that needs no approval', async () => {
    const h = start();
    const run = await toExecuting(h);
    expect(run.input.call).toEqual(call('c1', 'echo', { text: 'hi' }));
    expect(h.types()).toEqual(['thinking', 'tool_call']);
    expect(h.find('tool_call')?.data).toEqual({
      call_id: 'c1',
      tool: 'echo',
      args: { text: 'hi' },
    });
  });

  it('fails when the planner throws', async () => {
    const h = start();
    h.actor.send(execute());
    (await h.planner.nth(1)).reject(new Error('model unavailable'));
    await h.reach('failed');
    expect(h.find('error')?.data).toEqual({
      code: 'planner_failed',
      message: 'model unavailable',
    });
  });

  it('is cancelled, aborting the planner', async () => {
    const h = start();
    h.actor.send(execute());
    const planning = await h.planner.nth(1);
    expect(h.actor.getSnapshot().can({ ...execute(), execution_id: 'exec_2' })).toBe(false);
    expect(h.actor.getSnapshot().can(approve())).toBe(false);
    expect(h.actor.getSnapshot().can(cancel('exec_other'))).toBe(false);
    h.actor.send(cancel('exec_1'));
    expect(h.state()).toBe('cancelled');
    expect(planning.signal.aborted).toBe(true);
    expect(h.find('cancelled')?.data).toEqual({
      execution_id: 'exec_1',
      cancelled_by: 'carol',
      aborted: [{ kind: 'planner', id: 'exec_1' }],
    });
    // A late planner answer changes nothing.
    planning.resolve({ kind: 'final', summary: 'too late' });
    await Promise.resolve();
    expect(h.state()).toBe('cancelled');
    expect(h.types()).not.toContain('complete');
  });
});

describe('awaiting_approval', () => {
  it('executes the call as proposed on approve', async () => {
    const h = start();
    await toAwaiting(h);
    expect(h.actor.getSnapshot().can(execute('exec_2'))).toBe(false);
    h.actor.send(approve());
    const run = await h.tool.nth(1);
    expect(h.state()).toEqual({ executing: 'tool' });
    expect(run.input.call).toEqual(call('c1'));
    expect(h.timers[0]!.stopped).toBe(true);
    expect(h.types()).toEqual(['thinking', 'approval_required', 'approved', 'tool_call']);
    expect(h.find('approved')?.data).toEqual({
      request_id: 'req_c1',
      call_id: 'c1',
      decided_by: BY,
    });
  });

  it('runs the tool with the edited args only on edit', async () => {
    const h = start();
    await toAwaiting(h);
    h.actor.send(edit({ to: 'bob', amount: 50 }));
    const run = await h.tool.nth(1);
    expect(run.input.call.args).toEqual({ to: 'bob', amount: 50 });
    expect(h.tool.calls).toHaveLength(1);
    expect(h.find('edit_approved')?.data).toEqual({
      request_id: 'req_c1',
      call_id: 'c1',
      decided_by: BY,
      original_args: { to: 'bob', amount: 500 },
      edited_args: { to: 'bob', amount: 50 },
    });
    expect(h.find('tool_call')?.data.args).toEqual({ to: 'bob', amount: 50 });
  });

  it('goes back to thinking on reject, and the planner sees the reason', async () => {
    const h = start();
    await toAwaiting(h);
    h.actor.send(reject('req_c1', 'not this month'));
    const next = await h.planner.nth(2);
    expect(h.state()).toBe('thinking');
    expect(h.tool.calls).toHaveLength(0);
    expect(next.input.history).toEqual([
      { kind: 'rejected', ...call('c1'), reason: 'not this month', by: BY },
    ]);
    expect(h.find('rejected')?.data).toEqual({
      request_id: 'req_c1',
      call_id: 'c1',
      decided_by: BY,
      reason: 'not this month',
    });
  });

  it('records "rejected" as the reason of a reject without one', async () => {
    const h = start();
    await toAwaiting(h);
    h.actor.send(reject());
    const next = await h.planner.nth(2);
    expect(next.input.history[0]).toMatchObject({ kind: 'rejected', reason: 'rejected' });
  });

  it('treats expiry as a reject with reason "expired"', async () => {
    const h = start();
    const approval = await toAwaiting(h);
    h.timers[0]!.fire();
    const next = await h.planner.nth(2);
    expect(next.input.history).toEqual([
      { kind: 'rejected', ...call('c1'), reason: 'expired', by: 'system' },
    ]);
    expect(h.find('approval_expired')?.data).toEqual({
      request_id: 'req_c1',
      call_id: 'c1',
      expires_at: approval.expires_at,
    });
    expect(h.types()).not.toContain('rejected');
  });

  it('expires at expires_at with the default timer', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-01-01T00:00:00Z') });
    const h = start({ realTimer: true });
    h.actor.send(execute());
    const c = call('c1');
    const approval = { ...approvalOf(c), expires_at: '2026-01-01T00:01:00.000Z' };
    (await h.planner.nth(1)).resolve({ kind: 'call', call: c, approval });
    await h.reach('awaiting_approval');
    vi.advanceTimersByTime(59_999);
    expect(h.state()).toBe('awaiting_approval');
    vi.advanceTimersByTime(1);
    expect(h.state()).toBe('thinking');
    expect(h.types()).toContain('approval_expired');
  });

  it('accepts no decision for another request id', async () => {
    const h = start();
    await toAwaiting(h);
    const snapshot = h.actor.getSnapshot();
    expect(snapshot.can(approve('req_other'))).toBe(false);
    expect(snapshot.can(reject('req_other', 'no'))).toBe(false);
    expect(snapshot.can(edit({ amount: 1 }, 'req_other'))).toBe(false);
    expect(snapshot.can({ type: 'approval.expired', request_id: 'req_other' })).toBe(false);
    h.actor.send(approve('req_other'));
    expect(h.state()).toBe('awaiting_approval');
    expect(h.tool.calls).toHaveLength(0);
  });

  it('is cancelled, dropping the pending request and its timer', async () => {
    const h = start();
    await toAwaiting(h);
    expect(h.actor.getSnapshot().can(cancel('exec_other'))).toBe(false);
    h.actor.send(cancel());
    expect(h.state()).toBe('cancelled');
    expect(h.timers[0]!.stopped).toBe(true);
    expect(h.actor.getSnapshot().context.pending).toBeNull();
    expect(h.actor.getSnapshot().can(approve())).toBe(false);
    expect(h.find('cancelled')?.data.aborted).toEqual([
      { kind: 'approval', id: 'req_c1', tool: 'transfer' },
    ]);
  });
});

describe('executing', () => {
  it('returns to thinking with the tool result in the history', async () => {
    const h = start();
    const run = await toExecuting(h);
    expect(h.actor.getSnapshot().can(approve())).toBe(false);
    expect(h.actor.getSnapshot().can(execute('exec_2'))).toBe(false);
    run.resolve({ text: 'hi' });
    const next = await h.planner.nth(2);
    expect(h.state()).toBe('thinking');
    expect(next.input.history).toEqual([
      { kind: 'result', ...call('c1', 'echo', { text: 'hi' }), result: { text: 'hi' } },
    ]);
    expect(h.find('tool_result')?.data).toEqual({
      call_id: 'c1',
      tool: 'echo',
      result: { text: 'hi' },
    });
    next.resolve({ kind: 'final', summary: 'said hi' });
    await h.reach('complete');
    expect(h.find('complete')?.data.steps).toBe(1);
  });

  it('fails when the tool throws', async () => {
    const h = start();
    (await toExecuting(h)).reject(new Error('disk full'));
    await h.reach('failed');
    expect(h.find('error')?.data).toEqual({
      code: 'tool_failed',
      message: 'disk full',
      call_id: 'c1',
    });
  });

  it('asks a human again when the outcome of the call is unknown', async () => {
    const h = start();
    const run = await toExecuting(h, call('c1'));
    const fresh = approvalOf(call('c2'), 'req_c2');
    const unknown = new ToolOutcomeUnknown('transfer c1 started but never finished', fresh);
    run.reject(unknown);
    await h.reach('awaiting_approval');
    expect(h.types()).toEqual(['thinking', 'tool_call', 'error', 'approval_required']);
    expect(h.find('error')?.data).toEqual({
      code: 'tool_outcome_unknown',
      message: 'transfer c1 started but never finished',
      call_id: 'c1',
    });
    expect(h.find('approval_required')?.data).toMatchObject({
      request_id: 'req_c2',
      call_id: 'c2',
    });
    expect(h.actor.getSnapshot().can(approve('req_c1'))).toBe(false);
    h.actor.send(approve('req_c2'));
    expect((await h.tool.nth(2)).input.call).toEqual(call('c2'));
  });

  it('is cancelled, aborting the running tool', async () => {
    const h = start();
    const run = await toExecuting(h);
    expect(h.actor.getSnapshot().can(cancel('exec_other'))).toBe(false);
    h.actor.send(cancel('exec_1'));
    expect(h.state()).toBe('cancelled');
    expect(run.signal.aborted).toBe(true);
    expect(h.find('cancelled')?.data).toEqual({
      execution_id: 'exec_1',
      cancelled_by: 'carol',
      aborted: [{ kind: 'tool', id: 'c1', tool: 'echo' }],
    });
    run.resolve('late');
    await Promise.resolve();
    expect(h.types()).not.toContain('tool_result');
  });
});

describe('after an execution', () => {
  const endings: Record<string, (h: Harness) => Promise<void>> = {
    complete: async (h) => {
      h.actor.send(execute());
      (await h.planner.nth(1)).resolve({ kind: 'final', summary: 'ok' });
    },
    cancelled: async (h) => {
      h.actor.send(execute());
      await h.planner.nth(1);
      h.actor.send(cancel());
    },
    failed: async (h) => {
      h.actor.send(execute());
      (await h.planner.nth(1)).reject(new Error('boom'));
    },
  };

  for (const [ending, reachIt] of Object.entries(endings)) {
    it(`${ending} accepts a new execute, and only that`, async () => {
      const h = start();
      await reachIt(h);
      await h.reach(ending);
      const snapshot = h.actor.getSnapshot();
      for (const event of [approve(), reject(), edit({}), cancel()]) {
        expect(snapshot.can(event), event.type).toBe(false);
      }
      h.actor.send(execute('exec_2'));
      const next = await h.planner.nth(2);
      expect(h.state()).toBe('thinking');
      expect(next.input).toMatchObject({ execution_id: 'exec_2', history: [] });
      expect(h.actor.getSnapshot().context).toMatchObject({ executions: 2, error: null });
    });
  }
});
