import { UNLIMITED } from '../test/support/test-app.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import type { BenchTransport } from './config.ts';

export interface StreamServer {
  pid: number;
  url: string;
  stop(): Promise<void>;
}

const ROOT = new URL('..', import.meta.url).pathname;

/**
 * The real server as its own process with the OpenAI-compatible planner pointed at the bench's
 * fake upstream; in-memory PGlite, so storage is the same cheap constant on every run.
 * (bench/server-process.ts's startServer takes no extra env, hence this small twin.)
 */
export async function startStreamServer(
  transport: BenchTransport,
  upstreamBaseUrl: string,
): Promise<StreamServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      AUTH_MODE: 'dev',
      DATA_DIR: 'memory://',
      DATABASE_URL: '',
      LOG_LEVEL: 'warn',
      TRANSPORT: transport,
      PLANNER: 'openai',
      OPENAI_BASE_URL: upstreamBaseUrl,
      OPENAI_MODEL: 'fake-model',
      OPENAI_MAX_RETRIES: '0',
      ...UNLIMITED,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let url: string;
  try {
    url = await listeningUrl(child);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { pid: child.pid!, url, stop: () => stopChild(child) };
}

function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stdout?.resume(); // keep draining, so a chatty server never blocks on a full pipe
      child.stderr?.removeAllListeners('data');
      child.stderr?.pipe(process.stderr);
      resolve(match[1]!);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => void (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
