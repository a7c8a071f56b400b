import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../store/memory-store.ts';
import { joinSnapshot, ledgerOf, partsNamed, splitSnapshot } from './snapshot-parts.ts';
import { createTestRuntime, watchSession } from '../../test/support/test-runtime.ts';

const context = (execution_id: string, history: unknown[], plan: unknown[] | null) => ({
  session_id: 's1',
  execution_id,
  history,
  plan,
  summary: null,
});

/** A snapshot shaped like the session's: a context, a planner's input, a subagent's context. */
function snapshotWith(history: unknown[]) {
  const sub = context('e1/call_1', [{ kind: 'result', result: 'sub' }], [{ tool: 'echo' }]);
  return {
    value: 'executing',
    context: context('e1', history, [{ tool: 'echo' }, { tool: 'transfer' }]),
    children: {
      planner: { snapshot: { status: 'active', input: context('e1', history.slice(0, 1), null) } },
      sub_call_1: { snapshot: { value: 'thinking', context: sub, children: {} } },
    },
  };
}

describe('snapshot parts', () => {
  it('stores plan and history once, and joins them back into the same snapshot', () => {
    const ledger = ledgerOf(null);
    const first = snapshotWith([{ kind: 'result', result: 1 }]);
    const a = splitSnapshot('s1', first, ledger);
    expect(a.parts.map((p) => [p.part, p.idx])).toEqual([
      ['e1:history', 0],
      ['e1:plan', 0],
      ['e1/call_1:history', 0],
      ['e1/call_1:plan', 0],
    ]);
    expect(JSON.stringify(a.snapshot)).not.toContain('"result"');
    const second = snapshotWith([
      { kind: 'result', result: 1 },
      { kind: 'result', result: 2 },
    ]);
    const b = splitSnapshot('s1', second, ledger);
    // Only what is new goes in: the second history entry.
    expect(b.parts).toEqual([
      { session_id: 's1', part: 'e1:history', idx: 1, value: { kind: 'result', result: 2 } },
    ]);
    expect(partsNamed(b.snapshot).sort()).toEqual([
      'e1/call_1:history',
      'e1/call_1:plan',
      'e1:history',
      'e1:plan',
    ]);
    expect(joinSnapshot(b.snapshot, [...a.parts, ...b.parts])).toEqual(second);
    // A restored snapshot's ledger knows what is stored: nothing is written twice.
    expect(splitSnapshot('s1', second, ledgerOf(second)).parts).toEqual([]);
  });

  it('refuses to restore a snapshot whose history rows are missing', () => {
    const { snapshot, parts } = splitSnapshot('s1', snapshotWith([1, 2, 3]), ledgerOf(null));
    const without = parts.filter((p) => !(p.part === 'e1:history' && p.idx === 1));
    expect(() => joinSnapshot(snapshot, without)).toThrow(/e1:history has fewer rows/);
  });

  it('keeps the stored snapshot flat in a long plan, and restores its history mid-plan', async () => {
    const store = createMemoryStore();
    const transfer = { tool: 'transfer', args: { to: 'bob', amount: 250, currency: 'USD' } };
    const echoes = Array.from({ length: 60 }, (_, i) => ({
      tool: 'echo',
      args: { text: `step ${i + 1}` },
    }));
    const first = createTestRuntime({ wrapStore: () => store });
    /** Runs a plan up to its approval; the id and the size of the snapshot stored then. */
    const untilApproval = async (plan: { tool: string; args: Record<string, unknown> }[]) => {
      const session = await first.runtime.createSession('dev');
      const watch = await watchSession(session);
      await first.runtime.send(session.id, { type: 'execute', command: 'go', plan }, 'dev');
      await watch.waitFor('approval_required');
      await session.flush();
      const record = await store.getSession(session.id);
      return { id: session.id, size: JSON.stringify(record?.snapshot).length };
    };
    const short = await untilApproval([transfer]);
    const long = await untilApproval([...echoes, transfer]);
    await first.runtime.close();
    // Sixty results later the snapshot waiting on the same approval is about the same size.
    expect(long.size).toBeLessThan(short.size * 1.5);

    const second = createTestRuntime({ wrapStore: () => store });
    const restored = await second.runtime.getSession(long.id);
    if (!restored) throw new Error('not restored');
    const request = restored.pendingApprovals()[0];
    expect(request?.tool).toBe('transfer');
    const watch = await watchSession(restored);
    await second.runtime.send(
      long.id,
      { type: 'approve', request_id: request?.request_id ?? '' },
      'dev',
    );
    const complete = await watch.waitFor('complete');
    // The summary is built from the history: all sixty results came back from their rows.
    expect(complete.data.summary).toContain('plan finished (61 steps)');
    expect(complete.data.summary).toContain('60. echo ok: {"text":"step 60"}');
    expect(second.ledger.transfers()).toBe(1);
    await second.runtime.close();
  });
});
