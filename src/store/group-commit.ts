/**
 * Writes a batch of submissions in one go. Resolves with one entry per submission: undefined
 * when it was written, or the error that kept it out; throws when the whole batch failed.
 */
export type BatchWriter<T> = (
  submissions: readonly (readonly T[])[],
) => Promise<readonly (Error | undefined)[]>;

export interface GroupCommit<T> {
  /** Queues items; resolves once the batch holding them has been written. */
  submit(items: readonly T[]): Promise<void>;
  /** Resolves when nothing is queued or being written. */
  drain(): Promise<void>;
}

interface Pending<T> {
  items: readonly T[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: submissions made in the same tick, and those arriving while a batch is being
 * written, go out together in the next batch. One batch is in flight at a time, in order.
 * A submission is never split across batches; `maxItems` bounds a batch unless one
 * submission alone is larger.
 */
export function createGroupCommit<T>(
  write: BatchWriter<T>,
  options: { maxItems?: number } = {},
): GroupCommit<T> {
  const maxItems = options.maxItems ?? 1000;
  const queue: Pending<T>[] = [];
  let running: Promise<void> | undefined;

  function takeBatch(): Pending<T>[] {
    let n = 0;
    let items = 0;
    for (const pending of queue) {
      if (n > 0 && items + pending.items.length > maxItems) break;
      items += pending.items.length;
      n += 1;
    }
    return queue.splice(0, n);
  }

  async function run(): Promise<void> {
    // Let the rest of this tick's calls join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (queue.length > 0) {
      const batch = takeBatch();
      try {
        const results = await write(batch.map((p) => p.items));
        batch.forEach((p, i) => {
          const error = results[i];
          if (error) p.reject(error);
          else p.resolve();
        });
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    // Cleared in the same step as the empty check, so a later submit always starts a run.
    running = undefined;
  }

  return {
    submit(items) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ items, resolve, reject });
        running ??= run();
      });
    },
    drain: () => running ?? Promise.resolve(),
  };
}
