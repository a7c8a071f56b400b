import { describe, expect, it } from 'vitest';
import type { AnyActorRef } from 'xstate';
import type { SessionEmitted } from './session.emitted.ts';
import type { SessionContext } from './session.machine.ts';
import {
  BY,
  approvalOf,
  approve,
  call,
  cancel,
  execute,
  start,
  until,
  type Harness,
} from '../test/support/session-harness.ts';

const subPlan = [{ tool: 'transfer', args: { to: 'bob', amount: 500 } }];
const delegateCall = call('cd', 'delegate', { task: 'pay bob', plan: subPlan });

function childOf(actor: AnyActorRef): AnyActorRef | undefined {
  return (actor.getSnapshot() as { children: Record<string, AnyActorRef | undefined> }).children[
    'subagent'
  ];
}

/** Parent runs `delegate`; the child's emitted events are collected from its first one. */
async function delegate(h: Harness) {
  const childEmitted: SessionEmitted[] = [];
  let child: AnyActorRef | undefined;
  h.actor.on('subagent_start', () => {
    child = childOf(h.actor);
    child?.on('*', (event: SessionEmitted) => childEmitted.push(event));
  });
  h.actor.send(execute());
  (await h.planner.nth(1)).resolve({ kind: 'call', call: delegateCall, approval: null });
  await h.reach({ executing: 'subagent' });
  const childPlanning = await h.planner.nth(2);
  if (!child) throw new Error('no subagent was spawned');
  return { child, childEmitted, childPlanning };
}

const childState = (child: AnyActorRef) =>
  child.getSnapshot() as { value: unknown; status: string };

describe('subagent (delegate)', () => {
  it('spawns a child that runs its own plan, asks for its own approval, then reports back', async () => {
    const h = start();
    const { child, childEmitted, childPlanning } = await delegate(h);
    expect(h.types()).toEqual(['thinking', 'tool_call', 'subagent_start']);
    expect(h.find('subagent_start')?.data).toEqual({
      subagent_id: 'sub_cd',
      call_id: 'cd',
      task: 'pay bob',
    });
    expect(childPlanning.input).toMatchObject({
      execution_id: 'exec_1/cd',
      command: 'pay bob',
      plan: subPlan,
      depth: 1,
    });
    expect((child.getSnapshot() as { context: SessionContext }).context.parent_call_id).toBe('cd');

    const subCall = call('s1');
    childPlanning.resolve({ kind: 'call', call: subCall, approval: approvalOf(subCall) });
    await until(() => childState(child).value === 'awaiting_approval', 'child approval');
    expect(childEmitted.map((e) => e.type)).toEqual(['thinking', 'approval_required']);
    // The request belongs to the child: the parent does not take it.
    expect(h.actor.getSnapshot().can(approve('req_s1'))).toBe(false);
    expect(h.timers.map((t) => t.input.request_id)).toEqual(['req_s1']);

    child.send(approve('req_s1'));
    const run = await h.tool.nth(1);
    expect(run.input).toMatchObject({ call: subCall, depth: 1, execution_id: 'exec_1/cd' });
    run.resolve({ moved: 500 });
    (await h.planner.nth(3)).resolve({ kind: 'final', summary: 'paid bob' });

    const parentNext = await h.planner.nth(4);
    expect(h.state()).toBe('thinking');
    expect(childEmitted.map((e) => e.type)).toEqual([
      'thinking',
      'approval_required',
      'approved',
      'tool_call',
      'tool_result',
    ]);
    // Its end is the parent's subagent_end: a complete here would look like the session's.
    expect(h.types()).toEqual([
      'thinking',
      'tool_call',
      'subagent_start',
      'subagent_end',
      'tool_result',
    ]);
    expect(h.find('subagent_end')?.data).toEqual({
      subagent_id: 'sub_cd',
      call_id: 'cd',
      status: 'complete',
      summary: 'paid bob',
    });
    const results = [{ kind: 'result', ...subCall, result: { moved: 500 } }];
    expect(h.find('tool_result')?.data).toEqual({
      call_id: 'cd',
      tool: 'delegate',
      result: { summary: 'paid bob', results },
    });
    expect(parentNext.input.history).toEqual([
      { kind: 'result', ...delegateCall, result: { summary: 'paid bob', results } },
    ]);
    expect(childOf(h.actor)).toBeUndefined();
    expect(childState(child).status).toBe('stopped');
  });

  it('stops the child and its running tool when the parent is cancelled', async () => {
    const h = start();
    const { child, childPlanning } = await delegate(h);
    childPlanning.resolve({
      kind: 'call',
      call: call('s1', 'echo', { text: 'x' }),
      approval: null,
    });
    const run = await h.tool.nth(1);
    h.actor.send(cancel());
    expect(h.state()).toBe('cancelled');
    expect(run.signal.aborted).toBe(true);
    expect(childState(child).status).toBe('stopped');
    expect(h.find('cancelled')?.data).toEqual({
      execution_id: 'exec_1',
      cancelled_by: 'carol',
      aborted: [
        { kind: 'subagent', id: 'sub_cd', tool: 'delegate' },
        { kind: 'tool', id: 's1', tool: 'echo' },
      ],
    });
  });

  it('stops the child waiting for approval when the parent is cancelled', async () => {
    const h = start();
    const { child, childPlanning } = await delegate(h);
    const subCall = call('s1');
    childPlanning.resolve({ kind: 'call', call: subCall, approval: approvalOf(subCall) });
    await until(() => childState(child).value === 'awaiting_approval', 'child approval');
    h.actor.send(cancel('exec_1'));
    expect(childState(child).status).toBe('stopped');
    expect(h.timers[0]!.stopped).toBe(true);
    expect(h.find('cancelled')?.data.aborted).toEqual([
      { kind: 'subagent', id: 'sub_cd', tool: 'delegate' },
      { kind: 'approval', id: 'req_s1', tool: 'transfer' },
    ]);
    expect(h.tool.calls).toHaveLength(0);
  });

  it('stops a planning child when the parent is cancelled', async () => {
    const h = start();
    const { child, childPlanning } = await delegate(h);
    h.actor.send(cancel());
    expect(childPlanning.signal.aborted).toBe(true);
    expect(childState(child).status).toBe('stopped');
    expect(h.find('cancelled')?.data.aborted).toEqual([
      { kind: 'subagent', id: 'sub_cd', tool: 'delegate' },
      { kind: 'planner', id: 'exec_1/cd' },
    ]);
  });

  it('fails the parent when the child fails', async () => {
    const h = start();
    const { childPlanning, childEmitted } = await delegate(h);
    childPlanning.reject(new Error('child planner broke'));
    await h.reach('failed');
    // The child's failure reaches the wire as subagent_end and the parent's one error.
    expect(childEmitted.map((e) => e.type)).toEqual(['thinking']);
    expect(h.find('subagent_end')?.data).toEqual({
      subagent_id: 'sub_cd',
      call_id: 'cd',
      status: 'failed',
      summary: 'child planner broke',
    });
    expect(h.find('error')?.data).toEqual({
      code: 'subagent_failed',
      message: 'child planner broke',
      call_id: 'cd',
    });
  });

  it('fails, closing the subagent it started, when delegation goes deeper than allowed', async () => {
    const h = start({ maxDepth: 1 });
    h.actor.send(execute());
    (await h.planner.nth(1)).resolve({ kind: 'call', call: delegateCall, approval: null });
    await h.reach('failed');
    expect(h.types()).toEqual(['thinking', 'tool_call', 'subagent_start', 'subagent_end', 'error']);
    expect(h.find('subagent_end')?.data).toMatchObject({ subagent_id: 'sub_cd', status: 'failed' });
    expect(h.find('error')?.data).toMatchObject({
      code: 'subagent_failed',
      message: 'subagents may not delegate any deeper',
    });
  });

  it('runs a delegate call with invalid args as a plain tool call', async () => {
    const h = start();
    h.actor.send(execute());
    const bad = call('cd', 'delegate', { task: 'no plan' });
    (await h.planner.nth(1)).resolve({ kind: 'call', call: bad, approval: null });
    expect((await h.tool.nth(1)).input.call).toEqual(bad);
    expect(h.state()).toEqual({ executing: 'tool' });
    expect(h.types()).not.toContain('subagent_start');
  });

  it('attributes the child execution to whoever started the parent', async () => {
    const h = start();
    const { child } = await delegate(h);
    const context = (child.getSnapshot() as { context: SessionContext }).context;
    expect(context).toMatchObject({ executed_by: BY, depth: 1, execution_id: 'exec_1/cd' });
  });
});
