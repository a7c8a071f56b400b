import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A PostgreSQL cluster of the test's own, on a free port and in a temporary directory, for
 * tests that stop and start the database: the shared one on 5432 is never touched.
 */
export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  readonly port: number;
  /** Stops the server (`fast`: open connections are closed, as in a restart or failover). */
  stop(): void;
  start(): void;
  /** Stops it and removes its directory. */
  dispose(): void;
}

const BIN = '/usr/lib/postgresql/15/bin';

/** Why a private cluster cannot run here, or null when it can. */
export function privatePostgresMissing(): string | null {
  if (!existsSync(`${BIN}/initdb`)) return `no ${BIN}/initdb (Debian's postgresql-15)`;
  if (process.getuid?.() !== 0) return 'not root (initdb runs as the postgres user via setpriv)';
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    return 'no postgres user';
  }
  return null;
}

/** As the `postgres` user: initdb refuses to run as root. */
function asPostgres(command: string, args: string[]): void {
  execFileSync(
    'setpriv',
    ['--reuid=postgres', '--regid=postgres', '--init-groups', `${BIN}/${command}`, ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const missing = privatePostgresMissing();
  if (missing) throw new Error(`a private PostgreSQL cannot run here: ${missing}`);
  const dir = mkdtempSync(join(tmpdir(), 'hitl-pg-'));
  chmodSync(dir, 0o700);
  chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'])), 0);
  const data = join(dir, 'data');
  const port = await freePort();
  asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  let running = false;
  const pg: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start() {
      asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start']);
      running = true;
    },
    stop() {
      asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      running = false;
    },
    dispose() {
      if (running) pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  pg.start();
  return pg;
}
