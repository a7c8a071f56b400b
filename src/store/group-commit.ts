/** What a writer answers for a submission it could not take this time: it goes in a later batch. */
export const DEFER: unique symbol = Symbol('defer');

/**
 * Writes a batch of submissions in one go. Resolves with one entry per submission: its result,
 * the Error that kept it out, or DEFER; throws when the whole batch failed.
 */
export type BatchWriter<S, R> = (
  submissions: readonly S[],
) => Promise<readonly (R | Error | typeof DEFER)[]>;

export interface GroupCommit<S, R> {
  /** Queues a submission; resolves with its result once the batch holding it is written. */
  submit(submission: S): Promise<R>;
  /** Resolves when nothing is queued or being written. */
  drain(): Promise<void>;
}

export interface GroupCommitOptions<S> {
  /** How many items a submission counts for (default 1); bounds a batch with `maxItems`. */
  sizeOf?: (submission: S) => number;
  /** A batch holds at most this many items, unless one submission alone is larger. */
  maxItems?: number;
  /** Submissions with one key are written in order: never two of them in flight at once. */
  keyOf?: (submission: S) => string;
  /** How many batches may be in flight at once (pipelined); default 1. */
  maxInFlight?: number;
}

interface Pending<S, R> {
  submission: S;
  key: string;
  size: number;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: submissions made in the same tick, and those arriving while batches are being
 * written, go out together in the next batch. Up to `maxInFlight` batches are written at once;
 * a submission whose key is in a batch in flight waits for that batch, so one key's
 * submissions are written in the order they were made, each after the one before it settled.
 * A submission is never split across batches.
 */
export function createGroupCommit<S, R>(
  write: BatchWriter<S, R>,
  options: GroupCommitOptions<S> = {},
): GroupCommit<S, R> {
  const maxItems = options.maxItems ?? 1000;
  const maxInFlight = options.maxInFlight ?? 1;
  const sizeOf = options.sizeOf ?? (() => 1);
  const keyOf = options.keyOf ?? (() => '');
  const queue: Pending<S, R>[] = [];
  /** Keys with a submission in a batch in flight, and how many such submissions. */
  const busy = new Map<string, number>();
  let inFlight = 0;
  let scheduled = false;
  let idle: Promise<void> | undefined;
  let settle: (() => void) | undefined;

  /** The next batch: queued submissions in order, skipping (and holding behind) busy keys. */
  function takeBatch(): Pending<S, R>[] {
    const batch: Pending<S, R>[] = [];
    const rest: Pending<S, R>[] = [];
    const held = new Set<string>();
    let items = 0;
    let full = false;
    // One pass: a queue of thousands is split once, not spliced per submission taken.
    for (const pending of queue) {
      if (full || busy.has(pending.key) || held.has(pending.key)) {
        // Everything after a held submission of this key waits too, to keep the key's order.
        if (!full) held.add(pending.key);
        rest.push(pending);
        continue;
      }
      if (batch.length > 0 && items + pending.size > maxItems) {
        full = true;
        rest.push(pending);
        continue;
      }
      items += pending.size;
      batch.push(pending);
    }
    queue.length = 0;
    queue.push(...rest);
    return batch;
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    // Let the rest of this tick's calls join the batch.
    setImmediate(() => {
      scheduled = false;
      pump();
    });
  }

  function pump(): void {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = takeBatch();
      if (batch.length === 0) break;
      void run(batch);
    }
    if (inFlight === 0 && queue.length === 0) {
      settle?.();
      settle = undefined;
      idle = undefined;
    }
  }

  async function run(batch: Pending<S, R>[]): Promise<void> {
    inFlight += 1;
    for (const p of batch) busy.set(p.key, (busy.get(p.key) ?? 0) + 1);
    try {
      const results = await write(batch.map((p) => p.submission));
      const deferred: Pending<S, R>[] = [];
      batch.forEach((p, i) => {
        const result = results[i] as R | Error | typeof DEFER;
        if (result === DEFER) deferred.push(p);
        else if (result instanceof Error) p.reject(result);
        else p.resolve(result);
      });
      // Ahead of everything queued since: they were made before it.
      queue.unshift(...deferred);
    } catch (error) {
      for (const p of batch) p.reject(error);
    } finally {
      for (const p of batch) {
        const left = (busy.get(p.key) ?? 1) - 1;
        if (left === 0) busy.delete(p.key);
        else busy.set(p.key, left);
      }
      inFlight -= 1;
      pump();
    }
  }

  return {
    submit(submission) {
      return new Promise<R>((resolve, reject) => {
        queue.push({
          submission,
          key: keyOf(submission),
          size: sizeOf(submission),
          resolve,
          reject,
        });
        idle ??= new Promise<void>((resolve) => (settle = resolve));
        if (inFlight < maxInFlight) schedule();
      });
    },
    drain: () => idle ?? Promise.resolve(),
  };
}
