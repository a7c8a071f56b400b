/** What bench/run.ts and its workers (bench/bench-worker.ts) say to each other over IPC. */

export type WorkerCommand =
  | {
      kind: 'flows-setup';
      /** The server, or every node of a cluster (all on one database). */
      urls: string[];
      /** Session k is created on urls[k % n] and its socket opened on urls[(k + offset) % n]. */
      connectOffset: number;
      sessions: number;
      connectConcurrency: number;
    }
  | { kind: 'flows-go'; deadline: number; thinkMs: number }
  | { kind: 'idle-connect'; url: string; sessionIds: string[]; connectConcurrency: number }
  | { kind: 'release' }
  | { kind: 'ping'; url: string; sessionId: string; durationMs: number; window: number };

export type WorkerReply =
  | { kind: 'ready'; connectMs: number[] }
  | {
      kind: 'flows-done';
      flows: number;
      events: number;
      failures: number;
      firstError: string | null;
      executeToFirst: number[];
      approveToComplete: number[];
      elapsedMs: number;
      clientCpuMs: number;
    }
  | { kind: 'released' }
  | { kind: 'ping-done'; pings: number; elapsedMs: number; rttMs: number[] }
  | { kind: 'failed'; message: string };
