import type { BenchTransport } from './config.ts';
import { startServerProcess } from './server-process.ts';

export interface StreamServer {
  pid: number;
  url: string;
  stop(): Promise<void>;
}

/**
 * The real server as its own process with the OpenAI-compatible planner pointed at the bench's
 * fake upstream; in-memory PGlite, so storage is the same cheap constant on every run.
 */
export function startStreamServer(
  transport: BenchTransport,
  upstreamBaseUrl: string,
): Promise<StreamServer> {
  return startServerProcess({
    entry: 'src/main.ts',
    env: {
      DATA_DIR: 'memory://',
      DATABASE_URL: '',
      TRANSPORT: transport,
      PLANNER: 'openai',
      OPENAI_BASE_URL: upstreamBaseUrl,
      OPENAI_MODEL: 'fake-model',
      OPENAI_MAX_RETRIES: '0',
    },
  });
}
