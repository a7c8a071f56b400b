import { describe, expect, it, vi } from 'vitest';
import type { Planner } from '../agent/planner.ts';
import { errorCode, useSessionRuntime } from '../../test/support/test-runtime.ts';

const setup = useSessionRuntime();

/** A planner that never answers until its signal aborts: a model call that hangs. */
function hangingPlanner() {
  const signals: AbortSignal[] = [];
  let aborts = 0;
  const planner: Planner = {
    next: (_input, { signal }) =>
      new Promise((_resolve, reject) => {
        signals.push(signal);
        signal.addEventListener('abort', () => {
          aborts += 1;
          reject(new Error('aborted'));
        });
      }),
  };
  return { planner, signals, aborts: () => aborts };
}

describe('cancel', () => {
  it('in thinking aborts the planner', async () => {
    const hanging = hangingPlanner();
    const t = await setup({ planner: hanging.planner });
    await t.runtime.send(t.session.id, { type: 'execute', command: 'think hard' }, 'dev');
    const thinking = await t.watch.waitFor('thinking');
    expect(hanging.signals).toHaveLength(1);

    await t.runtime.send(t.session.id, { type: 'cancel' }, 'carol');
    const cancelled = await t.watch.waitFor('cancelled');
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.data).toEqual({
      execution_id: thinking.data.execution_id,
      cancelled_by: 'carol',
      aborted: [{ kind: 'planner', id: thinking.data.execution_id }],
    });
    expect(hanging.signals[0]!.aborted).toBe(true);
    expect(hanging.aborts()).toBe(1);
    await t.session.flush();
    // The aborted planner's rejection is not reported as a failure.
    expect(t.watch.types()).toEqual(['thinking', 'cancelled']);
    expect(t.session.state()).toBe('cancelled');
  });

  it('with the execution_id of another execution is refused', async () => {
    const hanging = hangingPlanner();
    const t = await setup({ planner: hanging.planner });
    await t.runtime.send(t.session.id, { type: 'execute', command: 'think hard' }, 'dev');
    await t.watch.waitFor('thinking');
    const wrong = t.runtime.send(t.session.id, { type: 'cancel', execution_id: 'exec_old' }, 'dev');
    expect(await errorCode(wrong)).toBe('not_allowed_in_state');
    expect(hanging.signals[0]!.aborted).toBe(false);
    expect(t.session.state()).toBe('thinking');
  });

  it('in awaiting_approval closes the request: a late approve is refused and no money moves', async () => {
    const t = await setup();
    await t.runtime.send(
      t.session.id,
      { type: 'execute', command: 'transfer 250 USD to alice' },
      'dev',
    );
    const required = await t.watch.waitFor('approval_required');
    const requestId = required.data.request_id;

    await t.runtime.send(
      t.session.id,
      { type: 'cancel', execution_id: required.execution_id! },
      'carol',
    );
    const cancelled = await t.watch.waitFor('cancelled');
    expect(cancelled.data.aborted).toEqual([{ kind: 'approval', id: requestId, tool: 'transfer' }]);
    expect(t.session.pendingApprovals()).toEqual([]);
    expect(await t.runtime.getApproval(requestId)).toMatchObject({
      status: 'cancelled',
      decided_by: 'carol',
    });

    const late = t.runtime.send(t.session.id, { type: 'approve', request_id: requestId }, 'bob');
    expect(await errorCode(late)).toBe('approval_already_decided');
    await t.session.flush();
    expect(t.ledger.transfers()).toBe(0);
    expect(t.ledger.balance('alice')).toBe(1_000);
    expect(t.watch.types()).not.toContain('tool_call');
  });

  it('in executing stops a long sleep at once', async () => {
    const t = await setup();
    // Watch the tool's own promise: it must settle, not linger for 10 s after the cancel.
    const run = t.registry.run.bind(t.registry);
    let sleep: Promise<unknown> | undefined;
    t.registry.run = (name, args, context) => {
      const running = run(name, args, context);
      if (name === 'sleep') sleep = running;
      return running;
    };
    await t.runtime.send(t.session.id, { type: 'execute', command: 'sleep 10000' }, 'dev');
    const call = await t.watch.waitFor('tool_call');
    const started = performance.now();
    await t.runtime.send(t.session.id, { type: 'cancel' }, 'dev');
    const cancelled = await t.watch.waitFor('cancelled', () => true, 1_000);
    await expect(sleep).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(cancelled.data.aborted).toEqual([
      { kind: 'tool', id: call.data.call_id, tool: 'sleep' },
    ]);
    await t.session.flush();
    expect(t.watch.types()).toEqual(['thinking', 'tool_call', 'cancelled']);

    // The session is free again right away.
    await t.runtime.send(t.session.id, { type: 'execute', command: 'echo next' }, 'dev');
    expect((await t.watch.waitFor('complete')).data.summary).toContain('next');
  });

  it('stops a subagent and its pending approval', async () => {
    const t = await setup();
    const subPlan = [{ tool: 'transfer', args: { to: 'bob', amount: 500, currency: 'USD' } }];
    const plan = [{ tool: 'delegate', args: { task: 'pay bob', plan: subPlan } }];
    await t.runtime.send(t.session.id, { type: 'execute', command: 'delegate', plan }, 'dev');
    const required = await t.watch.waitFor('approval_required');
    const start = await t.watch.waitFor('subagent_start');

    await t.runtime.send(t.session.id, { type: 'cancel' }, 'dev');
    const cancelled = await t.watch.waitFor('cancelled');
    expect(cancelled.data.aborted).toEqual([
      { kind: 'subagent', id: start.data.subagent_id, tool: 'delegate' },
      { kind: 'approval', id: required.data.request_id, tool: 'transfer' },
    ]);
    expect(t.session.pendingApprovals()).toEqual([]);
    const late = t.runtime.send(
      t.session.id,
      { type: 'approve', request_id: required.data.request_id },
      'bob',
    );
    expect(await errorCode(late)).toBe('approval_already_decided');
    expect(t.ledger.transfers()).toBe(0);
  });

  // Found by test/durability: the call waits for its snapshot before it runs, and a cancel
  // that came in meanwhile was reported as aborting it, yet the transfer still ran.
  it('while the tool_call is being stored stops a transfer that has not started', async () => {
    // The write that carries the tool_call (and the call's start) is held until the cancel is in.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const heldNow = new Promise<void>((resolve) => (holding = resolve));
    let last: Promise<unknown> = Promise.resolve();
    const t = await setup({
      // In order, as a real store writes one session's appends.
      wrapStore: (inner) => ({
        ...inner,
        appendEvents(events, snapshot, rows) {
          const gate = events.some((e) => e.type === 'tool_call') ? (holding(), held) : null;
          const write = last
            .then(() => gate)
            .then(() => inner.appendEvents(events, snapshot, rows));
          last = write.catch(() => undefined);
          return write;
        },
      }),
    });
    await t.runtime.send(
      t.session.id,
      { type: 'execute', command: 'transfer 50 USD to bob' },
      'dev',
    );
    await heldNow;
    const cancelling = t.runtime.send(t.session.id, { type: 'cancel' }, 'dev');
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await cancelling;
    const call = await t.watch.waitFor('tool_call');
    const cancelled = await t.watch.waitFor('cancelled');
    expect(cancelled.data.aborted).toEqual([
      { kind: 'tool', id: call.data.call_id, tool: 'transfer' },
    ]);
    await t.session.flush();
    expect(t.ledger.transfers()).toBe(0);
    // Its start went in with the tool_call; the record says it never ran.
    await vi.waitFor(async () => {
      expect(await t.store.getToolOutcome(call.data.call_id)).toMatchObject({
        status: 'failed',
        error: expect.stringContaining('cancelled before it ran'),
      });
    });
  });
});
