import { fork, type ChildProcess } from 'node:child_process';
import type { WorkerCommand, WorkerReply } from './messages.ts';

export interface Worker {
  pid: number;
  /** Sends a command and resolves with the reply; a `failed` reply rejects. */
  request<K extends WorkerReply['kind']>(
    command: WorkerCommand,
    expect: K,
  ): Promise<Extract<WorkerReply, { kind: K }>>;
  stop(): void;
}

/** Load generators as separate processes, so the client side has its own event loops. */
export function startWorkers(count: number): Worker[] {
  return Array.from({ length: count }, () => startWorker());
}

function startWorker(): Worker {
  const child: ChildProcess = fork(new URL('./bench-worker.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let pending: { resolve(reply: WorkerReply): void; reject(error: Error): void } | null = null;
  child.on('message', (reply: WorkerReply) => {
    const waiting = pending;
    pending = null;
    if (!waiting) return;
    if (reply.kind === 'failed') waiting.reject(new Error(`worker ${child.pid}: ${reply.message}`));
    else waiting.resolve(reply);
  });
  child.on('exit', (code) => {
    pending?.reject(new Error(`worker ${child.pid} exited with ${code}`));
    pending = null;
  });
  return {
    pid: child.pid!,
    request(command, expect) {
      if (pending) return Promise.reject(new Error('one request at a time per worker'));
      return new Promise((resolve, reject) => {
        pending = {
          resolve: (reply) =>
            reply.kind === expect
              ? resolve(reply as Extract<WorkerReply, { kind: typeof expect }>)
              : reject(new Error(`worker answered ${reply.kind}, expected ${expect}`)),
          reject,
        };
        child.send(command);
      });
    },
    stop: () => void child.disconnect(),
  };
}
