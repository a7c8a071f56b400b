import { describe, expect, it } from 'vitest';
import type { OutboundEvent } from '../protocol/outbound.ts';
import type { Store, TransitionRows } from '../store/store.ts';
import { createTestRuntime, watchSession } from '../../test/support/test-runtime.ts';

/** Every appendEvents call: its event types and the tool rows that came with them. */
function recording(store: Store) {
  const writes: { types: string[]; rows: TransitionRows }[] = [];
  const wrapped: Store = {
    ...store,
    appendEvents(events: readonly OutboundEvent[], snapshot, rows = {}) {
      writes.push({ types: events.map((e) => e.type), rows });
      return store.appendEvents(events, snapshot, rows);
    },
  };
  return { wrapped, writes };
}

describe("a non-idempotent call's rows", () => {
  it('go in with the events that start and end the call, in the same write', async () => {
    let writes: ReturnType<typeof recording>['writes'] = [];
    const { runtime, store, ledger } = createTestRuntime({
      wrapStore: (inner) => {
        const r = recording(inner);
        writes = r.writes;
        return r.wrapped;
      },
    });
    const session = await runtime.createSession('dev');
    const watch = await watchSession(session);
    const plan = [
      { tool: 'echo', args: { text: 'first' } },
      { tool: 'transfer', args: { to: 'bob', amount: 50, currency: 'USD' } },
      { tool: 'transfer', args: { to: 'bob', amount: 9_000_000, currency: 'USD' } },
    ];
    await runtime.send(session.id, { type: 'execute', command: 'pay', plan }, 'dev');
    // Above 10,000: two approvers other than the requester (the demo's four-eyes policy).
    const request = await watch.waitFor('approval_required');
    const approve = { type: 'approve' as const, request_id: request.data.request_id };
    await runtime.send(session.id, approve, 'bob', ['approver']);
    await runtime.send(session.id, approve, 'cara', ['approver']);
    const failed = await watch.waitFor('error');
    await session.flush();
    const calls = watch.events.filter((e) => e.type === 'tool_call');
    const [, paid, refused] = calls.map((e) => (e.data as { call_id: string }).call_id);

    const withStart = writes.filter((w) => (w.rows.toolStarts ?? []).length > 0);
    expect(withStart.map((w) => [w.types, w.rows.toolStarts?.map((t) => t.call_id)])).toEqual([
      [expect.arrayContaining(['tool_call']), [paid]],
      [expect.arrayContaining(['tool_call']), [refused]],
    ]);
    const withOutcome = writes.filter((w) => (w.rows.toolOutcomes ?? []).length > 0);
    expect(withOutcome.map((w) => [w.types, w.rows.toolOutcomes?.map((o) => o.status)])).toEqual([
      [expect.arrayContaining(['tool_result']), ['succeeded']],
      [expect.arrayContaining(['error']), ['failed']],
    ]);
    const result = watch.events.find(
      (e) => e.type === 'tool_result' && (e.data as { call_id: string }).call_id === paid,
    );
    expect(await store.getToolOutcome(paid ?? '')).toEqual({
      status: 'succeeded',
      call_id: paid,
      tool: 'transfer',
      result: (result?.data as { result: unknown }).result,
    });
    expect(await store.getToolOutcome(refused ?? '')).toMatchObject({
      status: 'failed',
      error: (failed.data as { message: string }).message,
    });
    // The idempotent echo left no row; one transfer ran.
    expect(writes.flatMap((w) => w.rows.toolStarts ?? [])).toHaveLength(2);
    expect(ledger.transfers()).toBe(1);
    await runtime.close();
  });
});
