import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createBuiltinPlanner } from '../agent/builtin-planner.ts';
import { createBuiltinTools } from '../agent/builtin-tools.ts';
import { createLedger } from '../agent/ledger.ts';
import { createToolRegistry } from '../agent/tool-registry.ts';
import { createMemoryStore } from '../store/memory-store.ts';
import type { Store } from '../store/store.ts';
import { createSessionRuntime, type SessionRuntime } from './session-runtime.ts';
import { watchSession } from '../../test/support/test-runtime.ts';

const runtimes: SessionRuntime[] = [];

afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.close()));
});

function start(store: Store) {
  const ledger = createLedger();
  const runtime = createSessionRuntime({
    store,
    planner: createBuiltinPlanner(),
    registry: createToolRegistry(createBuiltinTools(ledger)),
    logger: pino({ level: 'silent' }),
  });
  runtimes.push(runtime);
  return { runtime, ledger };
}

describe('restore', () => {
  // Found by test/durability: the `cancelled` event was stored and sent, the process died
  // before the snapshot, and the restored session ran the rest of its plan. Events and the
  // snapshot that follows them are now one atomic write: the stored session is cancelled.
  it('restores a cancelled session as cancelled: nothing runs after the cancel', async () => {
    const store = createMemoryStore();
    const first = start(store);
    const session = await first.runtime.createSession('dev');
    const watch = await watchSession(session);
    const plan = [
      { tool: 'sleep', args: { ms: 20 } },
      { tool: 'transfer', args: { to: 'bob', amount: 50, currency: 'USD' } },
    ];
    await first.runtime.send(session.id, { type: 'execute', command: 'wait, pay', plan }, 'dev');
    await watch.waitFor('tool_call');
    await first.runtime.send(session.id, { type: 'cancel' }, 'carol');
    const cancelled = await watch.waitFor('cancelled');
    await first.runtime.close();
    expect((await store.getSession(session.id))?.state).toBe('cancelled');

    const second = start(store);
    const restored = await second.runtime.getSession(session.id);
    expect(restored?.state()).toBe('cancelled');
    await new Promise((resolve) => setTimeout(resolve, 60));
    await restored?.flush();
    expect(second.ledger.transfers()).toBe(0);
    const log = await store.readEvents(session.id, cancelled.seq - 1, 100);
    expect(log.map((e) => [e.type, e.data])).toEqual([
      ['cancelled', expect.objectContaining({ cancelled_by: 'carol' })],
    ]);
  });

  // Found while writing test/durability: a subagent's transitions did not save the session's
  // snapshot, so a restore put the subagent back before its approval request and asked anew.
  it('brings a subagent back where it waited, with its request still open', async () => {
    const store = createMemoryStore();
    const first = start(store);
    const session = await first.runtime.createSession('dev');
    const watch = await watchSession(session);
    // The sleep lets the session's own snapshot writes finish before the subagent asks.
    const subPlan = [
      { tool: 'sleep', args: { ms: 20 } },
      { tool: 'transfer', args: { to: 'bob', amount: 500, currency: 'USD' } },
    ];
    const plan = [{ tool: 'delegate', args: { task: 'pay bob', plan: subPlan } }];
    await first.runtime.send(session.id, { type: 'execute', command: 'delegate', plan }, 'dev');
    const required = await watch.waitFor('approval_required');
    await first.runtime.close();

    const second = start(store);
    const restored = await second.runtime.getSession(session.id);
    expect(restored?.pendingApprovals()).toEqual([
      expect.objectContaining({ request_id: required.data.request_id }),
    ]);
    expect((await store.getApproval(required.data.request_id))?.status).toBe('pending');
    const after = await watchSession(restored!, required.seq);
    await second.runtime.send(
      session.id,
      { type: 'approve', request_id: required.data.request_id },
      'dev',
    );
    await after.waitFor('complete');
    expect(second.ledger.transfers()).toBe(1);
  });

  // A crash after the deciding vote was committed, before its events and snapshot were: the
  // snapshot holds the votes before it, the table lists every approver. The restore decides
  // it as the table says, with the same approvers, and the transfer runs once.
  it('re-applies a committed four-eyes decision the snapshot has not reached', async () => {
    const store = createMemoryStore();
    const first = start(store);
    const session = await first.runtime.createSession('ann');
    const watch = await watchSession(session);
    const plan = [{ tool: 'transfer', args: { to: 'bob', amount: 20_000, currency: 'USD' } }];
    await first.runtime.send(session.id, { type: 'execute', command: 'pay', plan }, 'ann');
    const required = await watch.waitFor('approval_required');
    const requestId = required.data.request_id;
    const vote = { type: 'approve' as const, request_id: requestId };
    await first.runtime.send(session.id, vote, 'bob', ['approver']);
    await watch.waitFor('approval_vote');
    await first.runtime.close();
    // What the deciding vote commits first: the decision row, listing both approvers.
    const decided = await store.decideApproval({
      request_id: requestId,
      status: 'approved',
      decided_by: 'bob, cara',
      decided_at: new Date().toISOString(),
    });
    expect(decided.ok).toBe(true);

    const second = start(store);
    const restored = await second.runtime.getSession(session.id);
    const after = await watchSession(restored!, required.seq + 1);
    const approved = await after.waitFor('approved');
    expect(approved.data.decided_by).toEqual(['bob', 'cara']);
    await after.waitFor('complete');
    expect(second.ledger.transfers()).toBe(1);
  });
});
