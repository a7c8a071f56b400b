import { spawn, type ChildProcess } from 'node:child_process';

export const FUZZ_ENV = {
  PORT: '0',
  AUTH_MODE: 'dev',
  DATA_DIR: 'memory://',
  LOG_LEVEL: 'warn',
  MESSAGE_RATE: '1000000',
  MESSAGE_BURST: '1000000',
  MAX_SOCKETS_PER_USER: '100000',
  SESSIONS_PER_MINUTE: '1000000',
};

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Set once the process has exited: its code or signal. */
  readonly exited: () => string | undefined;
  /** Error-level (pino ≥ 50) log lines the server wrote, truncated. */
  readonly errorLogs: string[];
  readonly stop: () => Promise<void>;
}

/** Starts `src/main.ts` as a child process and resolves with the URL it prints. */
export function startServerProcess(cwd: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd,
    env: { ...process.env, ...FUZZ_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exit: string | undefined;
  const errorLogs: string[] = [];
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = signal ?? String(code);
      resolve();
    }),
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    let buffered = '';
    let found = false;
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const match = /listening on (http:\/\/\S+)/.exec(line);
        if (match && !found) {
          found = true;
          resolve({
            url: match[1]!,
            child,
            exited: () => exit,
            errorLogs,
            stop: async () => {
              if (exit === undefined) child.kill('SIGTERM');
              await exitedPromise;
            },
          });
        }
        if (line.startsWith('{')) {
          try {
            const log = JSON.parse(line) as { level?: number };
            if ((log.level ?? 0) >= 50) errorLogs.push(line.slice(0, 4000));
          } catch {
            // not a log line
          }
        }
      }
    });
    void exitedPromise.then(() => {
      if (!found) reject(new Error(`server exited (${exit}) before listening: ${stderr}`));
    });
  });
}

/** Resolves true when `/healthz` answers 200 within `ms`. */
export async function healthy(baseUrl: string, ms = 5000): Promise<boolean> {
  try {
    const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(ms) });
    await res.text();
    return res.status === 200;
  } catch {
    return false;
  }
}
