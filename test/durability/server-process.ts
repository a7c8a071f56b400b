import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UNLIMITED } from '../support/test-app.ts';
import type { DurableData } from './durable-data.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** `npm start` as a real child process: its own event loop, signals, stdout. */
export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  exited: Promise<Exit>;
  /** SIGTERM: the graceful shutdown. Resolves with how it exited. */
  stop(): Promise<Exit>;
  /** SIGKILL: a crash, nothing flushed. */
  kill(): Promise<Exit>;
  /**
   * SIGKILL to the whole process group (npm, its shell, tsx and node, as a supervisor kills
   * a container), returning at once: the processes may still be dying or not yet reaped.
   */
  killGroup(): void;
}

export interface RunningProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<Exit>;
}

/** Runs a command in the project root with the environment of a server on the given data. */
export function runProcess(
  command: string,
  args: readonly string[],
  data: DurableData,
  env: Record<string, string> = {},
): RunningProcess {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      PORT: '0',
      AUTH_MODE: 'dev',
      LOG_LEVEL: 'warn',
      ...UNLIMITED,
      ...data.env,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that killGroup() reaches every process it starts.
    detached: true,
  });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => text, exited };
}

/** Runs a project script (`src/main.ts`, `src/cli.ts`) with tsx, as `npm start` does. */
export function runScript(
  script: string,
  args: readonly string[],
  data: DurableData,
  env: Record<string, string> = {},
): RunningProcess {
  return runProcess(process.execPath, ['--import', 'tsx', script, ...args], data, env);
}

async function toEnd(run: RunningProcess): Promise<{ code: number | null; output: string }> {
  const { code } = await run.exited;
  return { code, output: run.output() };
}

/** Runs a script to its end: exit code and output. */
export function runToEnd(script: string, args: readonly string[], data: DurableData) {
  return toEnd(runScript(script, args, data));
}

/** Runs a command (`npm run ...`) to its end: exit code and output. */
export function runCommand(command: string, args: readonly string[], data: DurableData) {
  return toEnd(runProcess(command, args, data));
}

/** Starts the server and resolves once it prints its URL; rejects if it exits first. */
export function startServer(
  data: DurableData,
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<ServerProcess> {
  return startServerScript('src/main.ts', data, env, timeoutMs);
}

/** A server entry (`src/main.ts`, or a test's own that prints `listening on <url>`) as a process. */
export function startServerScript(
  script: string,
  data: DurableData,
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<ServerProcess> {
  return untilListening(runScript(script, [], data, env), timeoutMs);
}

/** `npm start`, exactly as an operator runs it: npm, a shell, tsx and node in one group. */
export function startServerWithNpm(
  data: DurableData,
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<ServerProcess> {
  return untilListening(runProcess('npm', ['start', '--silent'], data, env), timeoutMs);
}

async function untilListening(run: RunningProcess, timeoutMs: number): Promise<ServerProcess> {
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      if (run.child.pid !== undefined) process.kill(-run.child.pid, 'SIGKILL');
      reject(new Error(`server did not start in ${timeoutMs} ms:\n${run.output()}`));
    }, timeoutMs);
    const check = () => {
      const match = /listening on (http:\/\/\S+)/.exec(run.output());
      if (match?.[1]) {
        clearTimeout(timer);
        run.child.stdout?.off('data', check);
        resolve(match[1]);
      }
    };
    run.child.stdout?.on('data', check);
    void run.exited.then((exit) => {
      clearTimeout(timer);
      reject(
        new Error(`server exited (${exit.code ?? exit.signal}) before listening:\n${run.output()}`),
      );
    });
  });
  const signal = (name: NodeJS.Signals) => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill(name);
    return run.exited;
  };
  return {
    url,
    child: run.child,
    output: () => run.output(),
    exited: run.exited,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    killGroup: () => {
      if (run.child.pid !== undefined) process.kill(-run.child.pid, 'SIGKILL');
    },
  };
}
