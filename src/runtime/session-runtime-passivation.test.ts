import { describe, expect, it, vi } from 'vitest';
import { createManualClock } from '../../test/support/manual-clock.ts';
import { createTestRuntime, useSessionRuntime } from '../../test/support/test-runtime.ts';
import type { Store } from '../store/store.ts';

const setup = useSessionRuntime();
const AFTER_MS = 1_000;
const TTL_MS = 15 * 60_000;

/** Lets the memory store's promises and the actors' work settle (the clock stays put). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function storedTypes(store: Store, sessionId: string): Promise<string[]> {
  return (await store.readEvents(sessionId, 0, 1_000)).map((e) => e.type);
}

/** The stored log has seq 1..n with no gap, and its chain verifies. */
async function expectWholeLog(store: Store, sessionId: string): Promise<void> {
  const seqs = (await store.readEvents(sessionId, 0, 1_000)).map((e) => e.seq);
  expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  expect(await store.verifyChain(sessionId)).toMatchObject({ ok: true });
}

async function awaitingTransfer(t: ReturnType<typeof createTestRuntime>, sessionId: string) {
  await t.runtime.send(sessionId, { type: 'execute', command: 'transfer 250 USD to alice' }, 'dev');
  await vi.waitFor(async () =>
    expect(await storedTypes(t.store, sessionId)).toContain('approval_required'),
  );
  const [pending] = await t.store.listApprovals({ status: 'pending', session_id: sessionId });
  if (!pending) throw new Error('no pending approval');
  return pending.request_id;
}

describe('passivation', () => {
  it('takes an idle session out of memory after the delay, never while held or running', async () => {
    const clock = createManualClock();
    const t = await setup({ clock, passivateAfterMs: AFTER_MS });
    clock.advance(AFTER_MS - 1);
    await settle();
    expect(t.runtime.inMemory(t.session.id)).toBe(true);

    const release = t.session.hold();
    clock.advance(5 * AFTER_MS);
    await settle();
    expect(t.runtime.inMemory(t.session.id)).toBe(true);
    release();
    clock.advance(AFTER_MS / 2);
    await settle();
    expect(t.runtime.inMemory(t.session.id)).toBe(true);
    clock.advance(AFTER_MS);
    await settle();
    expect(t.runtime.inMemory(t.session.id)).toBe(false);

    // Running (a sleep tool in `executing`): it stays for as long as the tool runs.
    await t.runtime.send(
      t.session.id,
      { type: 'execute', command: 'nap', plan: [{ tool: 'sleep', args: { ms: 200 } }] },
      'dev',
    );
    await vi.waitFor(async () =>
      expect(await storedTypes(t.store, t.session.id)).toContain('tool_call'),
    );
    clock.advance(5 * AFTER_MS);
    await settle();
    expect(t.runtime.inMemory(t.session.id)).toBe(true);
    await vi.waitFor(async () =>
      expect(await storedTypes(t.store, t.session.id)).toContain('complete'),
    );
  });

  it('brings a passivated session back with its seq and pending approval; approve completes once', async () => {
    const clock = createManualClock();
    const t = await setup({ clock, passivateAfterMs: AFTER_MS });
    const requestId = await awaitingTransfer(t, t.session.id);
    const lastSeq = t.session.lastSeq();
    clock.advance(2 * AFTER_MS);
    await settle();
    expect(t.runtime.inMemory(t.session.id)).toBe(false);

    const back = await t.runtime.getSession(t.session.id);
    expect(back).not.toBe(t.session);
    expect(back?.lastSeq()).toBe(lastSeq);
    expect(back?.state()).toBe('awaiting_approval');
    expect(back?.pendingApprovals()).toEqual(t.session.pendingApprovals());
    await t.runtime.send(t.session.id, { type: 'approve', request_id: requestId }, 'bob');
    await vi.waitFor(async () =>
      expect(await storedTypes(t.store, t.session.id)).toContain('complete'),
    );
    expect(t.ledger.transfers()).toBe(1);
    await expectWholeLog(t.store, t.session.id);
  });

  it('expires an approval of a passivated session on time, from the due-time index', async () => {
    const clock = createManualClock();
    const t = await setup({ clock, passivateAfterMs: AFTER_MS });
    const requestId = await awaitingTransfer(t, t.session.id);
    const deadline = clock.now() + TTL_MS;
    clock.advance(2 * AFTER_MS);
    await settle();
    expect(t.runtime.inMemory(t.session.id)).toBe(false);

    // Brought back a lead (a second) before the deadline; nothing expires early.
    clock.advance(deadline - clock.now() - AFTER_MS - 1);
    await settle();
    expect(t.runtime.inMemory(t.session.id)).toBe(false);
    clock.advance(2);
    await settle();
    expect(t.runtime.inMemory(t.session.id)).toBe(true);
    expect((await t.store.getApproval(requestId))?.status).toBe('pending');

    clock.advance(deadline - clock.now()); // to the deadline, and not a millisecond past it
    await vi.waitFor(async () =>
      expect(await storedTypes(t.store, t.session.id)).toContain('complete'),
    );
    const approval = await t.store.getApproval(requestId);
    expect(approval).toMatchObject({ status: 'expired', decided_by: 'system' });
    expect(Date.parse(approval?.decided_at ?? '')).toBe(deadline);
    const types = await storedTypes(t.store, t.session.id);
    expect(types.filter((type) => type === 'approval_expired')).toHaveLength(1);
    expect(t.ledger.transfers()).toBe(0);
    await expectWholeLog(t.store, t.session.id);
  });

  // The orders a decision can take against a passivation, from "before it is queued" to "while
  // the host stops": each time the decision is applied exactly once, on a live host.
  const orders = [
    'decision, then sweep (same tick)',
    'sweep, then decision (same tick)',
    'sweep, decision one microtask later',
    'sweep, decision after the passivation is done',
    'sweep, REST read and decision together',
  ] as const;

  it.each(orders)('lets a decision racing a passivation land exactly once: %s', async (order) => {
    const clock = createManualClock();
    const t = createTestRuntime({ clock, passivateAfterMs: AFTER_MS });
    try {
      const session = await t.runtime.createSession('dev');
      const requestId = await awaitingTransfer(t, session.id);
      // Used 1 ms after its last event, so the sweeps (every 500 ms since then) find it idle
      // only from the one at +1500: the calls below at +1001 are the first to see it so.
      clock.advance(1);
      await t.runtime.getSession(session.id);
      clock.advance(AFTER_MS);
      await settle();
      expect(t.runtime.inMemory(session.id)).toBe(true);
      const approve = () =>
        t.runtime.send(session.id, { type: 'approve', request_id: requestId }, 'bob');
      let decided: Promise<void>;
      let swept: Promise<number>;
      switch (order) {
        case 'decision, then sweep (same tick)':
          decided = approve();
          swept = t.runtime.passivateIdle();
          break;
        case 'sweep, then decision (same tick)':
          swept = t.runtime.passivateIdle();
          decided = approve();
          break;
        case 'sweep, decision one microtask later':
          swept = t.runtime.passivateIdle();
          await Promise.resolve();
          decided = approve();
          break;
        case 'sweep, decision after the passivation is done':
          swept = t.runtime.passivateIdle();
          await swept;
          decided = approve();
          break;
        case 'sweep, REST read and decision together':
          swept = t.runtime.passivateIdle();
          decided = t.runtime.getSession(session.id).then(() => approve());
          break;
      }
      await Promise.all([decided, swept]);
      await vi.waitFor(async () =>
        expect(await storedTypes(t.store, session.id)).toContain('complete'),
      );
      const types = await storedTypes(t.store, session.id);
      expect(types.filter((type) => type === 'approved')).toHaveLength(1);
      expect(types.filter((type) => type === 'tool_result')).toHaveLength(1);
      expect(t.ledger.transfers()).toBe(1);
      expect(await t.store.getApproval(requestId)).toMatchObject({ status: 'approved' });
      await expectWholeLog(t.store, session.id);
      // The host in memory now is the live one: it takes the next command.
      await t.runtime.send(session.id, { type: 'execute', command: 'echo again' }, 'dev');
      await vi.waitFor(async () =>
        expect(
          (await storedTypes(t.store, session.id)).filter((x) => x === 'complete'),
        ).toHaveLength(2),
      );
      await expectWholeLog(t.store, session.id);
    } finally {
      await t.runtime.close();
    }
  });
});
