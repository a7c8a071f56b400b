import { readFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';

/** Linux clock ticks per second (USER_HZ); 100 on every mainstream kernel build. */
const TICKS_PER_SECOND = 100;

export interface ProcessSample {
  /** Resident set size, bytes. */
  rss: number;
  /** Peak resident set size so far, bytes. */
  peakRss: number;
  /** User + system CPU time so far, ms. */
  cpuMs: number;
}

/** RSS from /proc/<pid>/status, CPU time from /proc/<pid>/stat. */
export async function sampleProcess(pid: number): Promise<ProcessSample> {
  const [status, stat] = await Promise.all([
    readFile(`/proc/${pid}/status`, 'utf8'),
    readFile(`/proc/${pid}/stat`, 'utf8'),
  ]);
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') * 1024, peakRss: kib('VmHWM') * 1024, cpuMs: cpuMsOf(stat) };
}

/** CPU ms of a process, 0 once it is gone. */
export async function cpuMs(pid: number): Promise<number> {
  try {
    return cpuMsOf(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return 0;
  }
}

function cpuMsOf(stat: string): number {
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / TICKS_PER_SECOND;
}

export async function fileLimit(): Promise<number> {
  const limits = await readFile('/proc/self/limits', 'utf8');
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
}

export async function machine(): Promise<string> {
  const info = cpus();
  let kernel = '';
  try {
    kernel = (await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim();
  } catch {
    // not Linux
  }
  const model = info[0]?.model.trim() ?? 'unknown CPU';
  const memory = Math.round(totalmem() / 2 ** 30);
  const load = loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');
  return `${info.length} x ${model}, ${memory} GiB RAM, Linux ${kernel}, Node ${process.version}, load ${load}`;
}
