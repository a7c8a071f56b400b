import { describe, expect, it } from 'vitest';
import { createFlakyStore } from '../../test/support/flaky-store.ts';
import { useSessionRuntime } from '../../test/support/test-runtime.ts';
import type { RuntimeObserver } from './runtime-observer.ts';

const setup = useSessionRuntime();

/** Records what the runtime reports. */
function recorder() {
  const seen = { commits: [] as number[], stored: [] as string[], storeErrors: 0 };
  const observe: Partial<RuntimeObserver> = {
    commit: (ms) => void seen.commits.push(ms),
    stored: (events) => void seen.stored.push(...events.map((e) => e.type)),
    storeError: () => void (seen.storeErrors += 1),
  };
  return { seen, observe };
}

describe('the runtime observer', () => {
  it('reports each atomic write and the stored events in seq order, decisions included', async () => {
    const { seen, observe } = recorder();
    const t = await setup({ observe });
    await t.runtime.send(
      t.session.id,
      { type: 'execute', command: 'transfer 250 USD to alice' },
      'dev',
    );
    const required = await t.watch.waitFor('approval_required');
    expect(t.runtime.pendingApprovalsInMemory()).toBe(1);
    expect(t.runtime.statesInMemory()).toMatchObject({ awaiting_approval: 1, idle: 0 });

    await t.runtime.send(
      t.session.id,
      { type: 'approve', request_id: required.data.request_id },
      'dev',
    );
    await t.watch.waitFor('complete');
    await t.session.flush();
    expect(seen.stored).toEqual(t.watch.events.map((e) => e.type));
    expect(seen.stored).toContain('approved');
    expect(seen.commits.length).toBeGreaterThan(0);
    expect(seen.commits.every((ms) => ms >= 0)).toBe(true);
    expect(seen.storeErrors).toBe(0);
    expect(t.runtime.pendingApprovalsInMemory()).toBe(0);
    expect(t.runtime.statesInMemory()).toEqual({
      idle: 0,
      thinking: 0,
      awaiting_approval: 0,
      executing: 0,
      complete: 1,
      cancelled: 0,
      failed: 0,
    });
  });

  it('reports a write that failed once, and nothing as stored from it', async () => {
    const { seen, observe } = recorder();
    let fail: (count: number) => void = () => undefined;
    const t = await setup({
      observe,
      wrapStore: (inner) => {
        const flaky = createFlakyStore(inner);
        fail = (count) => flaky.failNextAppends(count);
        return flaky.store;
      },
    });
    fail(1);
    await t.runtime
      .send(t.session.id, { type: 'execute', command: 'echo hi' }, 'dev')
      .catch(() => undefined);
    await expect.poll(() => seen.storeErrors).toBe(1);
    await t.session.flush();
    expect(t.session.isBroken()).toBe(true);
    expect(seen.stored).not.toContain('thinking');
  });

  it('a throwing observer is logged and the session goes on', async () => {
    const boom = () => {
      throw new Error('observer bug');
    };
    const t = await setup({ observe: { commit: boom, stored: boom, storeError: boom } });
    await t.runtime.send(t.session.id, { type: 'execute', command: 'echo hi' }, 'dev');
    await t.watch.waitFor('complete');
    expect(t.session.isBroken()).toBe(false);
  });
});
