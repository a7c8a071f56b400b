import { pathToFileURL } from 'node:url';
import { loadConfig } from './config.ts';
import { openStore } from './store/open-store.ts';
import type { ChainVerification, Store } from './store/store.ts';

const USAGE = 'usage: verify <session_id> | verify --all\n';

export interface CliDeps {
  open: () => Promise<Pick<Store, 'verifyChain' | 'getSession' | 'close'> & AllSessions>;
  out: (line: string) => void;
  err: (line: string) => void;
}

interface AllSessions {
  listSessionIds(): Promise<string[]>;
}

/** Runs one command. Exit codes: 0 intact, 1 a broken chain, 2 usage or cannot run. */
export async function runCli(args: readonly string[], deps: CliDeps): Promise<number> {
  const [command, target, ...rest] = args;
  if (command !== 'verify' || target === undefined || rest.length > 0) {
    deps.err(USAGE);
    return 2;
  }
  let store: Awaited<ReturnType<CliDeps['open']>>;
  try {
    store = await deps.open();
  } catch (error) {
    deps.err(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  try {
    return target === '--all' ? await verifyAll(store, deps) : await verifyOne(store, target, deps);
  } finally {
    await store.close();
  }
}

async function verifyOne(
  store: Awaited<ReturnType<CliDeps['open']>>,
  sessionId: string,
  deps: CliDeps,
): Promise<number> {
  const result = await store.verifyChain(sessionId);
  if (result.ok && result.events === 0 && !(await store.getSession(sessionId))) {
    deps.err(`unknown session ${sessionId}\n`);
    return 2;
  }
  deps.out(describe(result));
  return result.ok ? 0 : 1;
}

async function verifyAll(store: Awaited<ReturnType<CliDeps['open']>>, deps: CliDeps) {
  const ids = await store.listSessionIds();
  let events = 0;
  let broken = 0;
  for (const id of ids) {
    const result = await store.verifyChain(id);
    events += result.events;
    if (!result.ok) {
      broken += 1;
      deps.out(describe(result));
    }
  }
  deps.out(
    broken === 0
      ? `ok: ${ids.length} sessions, ${events} events, all chains intact\n`
      : `broken: ${broken} of ${ids.length} sessions\n`,
  );
  return broken === 0 ? 0 : 1;
}

function describe(result: ChainVerification): string {
  return result.ok
    ? `ok: session ${result.session_id}, ${result.events} events, chain intact\n`
    : `broken: session ${result.session_id} at seq ${result.broken_seq}: ${result.problem}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const deps: CliDeps = {
    open: () => openStore(loadConfig()),
    out: (line) => process.stdout.write(line),
    err: (line) => process.stderr.write(line),
  };
  process.exitCode = await runCli(process.argv.slice(2), deps);
}
