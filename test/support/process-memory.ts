import { readFile, writeFile } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';

/** Resident memory of another process, read from /proc (Linux). */
export interface RssWatch {
  /** VmRSS when the watch began, bytes. */
  readonly baseline: number;
  /** Stops watching: the highest RSS since the watch began, bytes. */
  stop(): Promise<number>;
}

async function status(pid: number): Promise<{ rss: number; hwm: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!match?.[1]) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/**
 * Watches a process's RSS from now on. The kernel's high-water mark (VmHWM) is reset first
 * (`5` to clear_refs), so the peak is exact however short it was; sampling every `everyMs`
 * covers kernels where the reset is not allowed.
 */
export async function watchRss(pid: number, everyMs = 20): Promise<RssWatch> {
  const reset = await writeFile(`/proc/${pid}/clear_refs`, '5').then(
    () => true,
    () => false,
  );
  const { rss: baseline } = await status(pid);
  let peak = baseline;
  let reading: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    reading = status(pid).then(
      ({ rss }) => void (peak = Math.max(peak, rss)),
      () => undefined,
    );
  }, everyMs);
  return {
    baseline,
    async stop() {
      clearInterval(timer);
      await reading;
      const { rss, hwm } = await status(pid);
      return Math.max(peak, rss, reset ? hwm : 0);
    },
  };
}

const LIVE = /^live memory (\d+) (\d+)$/gm;

/** What a process still holds after a full GC (JS heap + external), bytes. */
export interface LiveMemory {
  heap: number;
  external: number;
}

/**
 * Asks a server started from test/support/server-with-limits.ts for its live memory: SIGUSR2
 * makes it collect its garbage and print `live memory <heapUsed> <external>`.
 */
export async function liveMemory(
  server: { child: ChildProcess; output(): string },
  timeoutMs = 10_000,
): Promise<LiveMemory> {
  const seen = [...server.output().matchAll(LIVE)].length;
  server.child.kill('SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = [...server.output().matchAll(LIVE)][seen];
    if (line) return { heap: Number(line[1]), external: Number(line[2]) };
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no live memory line in ${timeoutMs} ms`);
}
