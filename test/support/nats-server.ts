import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NATS_SERVER_PATH = process.env['NATS_SERVER_PATH'] ?? '/usr/sbin/nats-server';

/** Whether the NATS tests can start a server of their own here. */
export const hasNatsServer = (): boolean => existsSync(NATS_SERVER_PATH);

/** A nats-server of a test's own, on a free loopback port (never the shared one on 4222). */
export interface TestNatsServer {
  readonly port: number;
  readonly url: string;
  /** Stops it (SIGTERM: it closes its connections; SIGKILL: a crash) and waits for the exit. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Stops it if it runs, then starts it again on the same port. */
  restart(): Promise<void>;
  /** Stops it and removes its store directory. */
  dispose(): Promise<void>;
}

export async function startNatsServer(): Promise<TestNatsServer> {
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'hitl-nats-'));
  let child: ChildProcess | null = await launch(port, storeDir);

  async function stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(signal);
    await exited;
  }

  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    stop,
    async restart() {
      await stop();
      child = await launch(port, storeDir);
    },
    async dispose() {
      await stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

async function launch(port: number, storeDir: string): Promise<ChildProcess> {
  const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir];
  const child = spawn(NATS_SERVER_PATH, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (output.length < 8_000) output += chunk.toString();
  });
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(
        new Error(
          `nats-server did not start from ${NATS_SERVER_PATH} (${error.message}): ` +
            'apt-get install nats-server, or set NATS_SERVER_PATH',
        ),
      ),
    );
    child.once('exit', (code) =>
      reject(new Error(`nats-server exited (${code}) before it was ready:\n${output}`)),
    );
  });
  await Promise.race([listening(port), failed]);
  return child;
}

/** Resolves once something accepts connections on the port (within 10 s). */
async function listening(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}
