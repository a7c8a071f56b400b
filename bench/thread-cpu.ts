import { readdir, readFile } from 'node:fs/promises';
import { cpuMs } from './proc-stats.ts';

/**
 * CPU µs a process used so far, summed over its threads from /proc/<pid>/task/<tid>/schedstat
 * (nanoseconds, where /proc/<pid>/stat counts 10 ms ticks: too coarse for µs per token).
 * Falls back to /proc/<pid>/stat on kernels without schedstat.
 */
export async function threadCpuUs(pid: number): Promise<number> {
  try {
    const tids = await readdir(`/proc/${pid}/task`);
    const times = await Promise.all(
      tids.map(async (tid) => {
        try {
          return Number(
            (await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')).split(' ')[0],
          );
        } catch {
          return 0; // the thread ended between readdir and read
        }
      }),
    );
    const total = times.reduce((a, b) => a + b, 0);
    if (total > 0) return total / 1000;
  } catch {
    // no /proc/<pid>/task: fall through
  }
  return (await cpuMs(pid)) * 1000;
}
