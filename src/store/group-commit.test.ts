import { describe, expect, it } from 'vitest';
import { createGroupCommit, DEFER } from './group-commit.ts';

interface Sub {
  key: string;
  n: number;
}

/** A writer that records what each batch held and settles batches when told to. */
function recordingWriter() {
  const batches: Sub[][] = [];
  const release: (() => void)[] = [];
  const write = async (subs: readonly Sub[]) => {
    batches.push([...subs]);
    await new Promise<void>((resolve) => release.push(resolve));
    return subs.map((s) => s.n);
  };
  return { batches, release, write };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('group commit', () => {
  it('joins one tick of submissions into one batch and resolves each with its own result', async () => {
    const w = recordingWriter();
    const gc = createGroupCommit<Sub, number>(w.write);
    const results = Promise.all([1, 2, 3].map((n) => gc.submit({ key: `k${n}`, n })));
    await tick();
    expect(w.batches).toHaveLength(1);
    w.release.shift()?.();
    expect(await results).toEqual([1, 2, 3]);
    await gc.drain();
  });

  it('pipelines batches of other keys, but never two batches holding one key', async () => {
    const w = recordingWriter();
    const gc = createGroupCommit<Sub, number>(w.write, { keyOf: (s) => s.key, maxInFlight: 2 });
    const first = gc.submit({ key: 'a', n: 1 });
    await tick();
    const laterA = gc.submit({ key: 'a', n: 2 });
    const b = gc.submit({ key: 'b', n: 3 });
    await tick();
    // The second batch is in flight beside the first, without a's later submission.
    expect(w.batches.map((batch) => batch.map((s) => s.n))).toEqual([[1], [3]]);
    w.release.shift()?.();
    await first;
    await tick();
    expect(w.batches.map((batch) => batch.map((s) => s.n))).toEqual([[1], [3], [2]]);
    w.release.shift()?.();
    w.release.shift()?.();
    expect(await Promise.all([laterA, b])).toEqual([2, 3]);
    await gc.drain();
  });

  it('writes a deferred submission in a later batch, ahead of what came after it', async () => {
    const batches: number[][] = [];
    let deferOnce = true;
    const gc = createGroupCommit<Sub, number>(async (subs) => {
      batches.push(subs.map((s) => s.n));
      await tick();
      return subs.map((s) => {
        if (s.n === 2 && deferOnce) {
          deferOnce = false;
          return DEFER;
        }
        return s.n;
      });
    });
    const all = Promise.all([gc.submit({ key: 'a', n: 1 }), gc.submit({ key: 'a', n: 2 })]);
    await tick();
    const late = gc.submit({ key: 'a', n: 3 });
    expect(await Promise.all([all, late])).toEqual([[1, 2], 3]);
    expect(batches).toEqual([
      [1, 2],
      [2, 3],
    ]);
    await gc.drain();
  });

  it('rejects every submission of a batch that failed as a whole, and goes on with the next', async () => {
    let calls = 0;
    const gc = createGroupCommit<Sub, number>(async (subs) => {
      calls += 1;
      await tick();
      if (calls === 1) throw new Error('database down');
      return subs.map((s) => s.n);
    });
    const failed = gc.submit({ key: 'a', n: 1 });
    await expect(failed).rejects.toThrow('database down');
    expect(await gc.submit({ key: 'a', n: 2 })).toBe(2);
    await gc.drain();
  });
});
