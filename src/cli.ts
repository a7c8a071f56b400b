import { pathToFileURL } from 'node:url';
import { loadConfig } from './config.ts';
import { serve } from './main.ts';
import { loadMigrations } from './store/migrations.ts';
import { openStore } from './store/open-store.ts';
import type { ChainVerification, Store } from './store/store.ts';

const USAGE = `usage: hitl-runtime serve              run the server (configured by the environment)
       hitl-runtime migrate            apply the database migrations, then exit
       hitl-runtime verify <session_id> | verify --all   check the audit hash chain
`;

export interface CliDeps {
  /** The configured store; opening it applies the migrations. */
  open: () => Promise<Pick<Store, 'kind' | 'verifyChain' | 'getSession' | 'close'> & AllSessions>;
  /** Starts the server and resolves once it listens (it then runs until a signal). */
  serve: () => Promise<void>;
  out: (line: string) => void;
  err: (line: string) => void;
}

/** The real dependencies: the environment's configuration, stdout and stderr. */
export function cliDeps(): CliDeps {
  return {
    open: () => openStore(loadConfig()),
    serve: () => serve(),
    out: (line) => process.stdout.write(line),
    err: (line) => process.stderr.write(line),
  };
}

interface AllSessions {
  listSessionIds(): Promise<string[]>;
}

/**
 * Runs one command. Exit codes: 0 done (a chain intact), 1 a broken chain, 2 usage or cannot
 * run. `serve` resolves once the server listens.
 */
export async function runCli(args: readonly string[], deps: CliDeps): Promise<number> {
  const [command, target, ...rest] = args;
  if (command === 'serve' && target === undefined) {
    await deps.serve();
    return 0;
  }
  const verify = command === 'verify' && target !== undefined && rest.length === 0;
  if (!verify && !(command === 'migrate' && target === undefined)) {
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
    if (target === undefined) return await migrated(store, deps);
    return target === '--all' ? await verifyAll(store, deps) : await verifyOne(store, target, deps);
  } finally {
    await store.close();
  }
}

/** Opening the store applied whatever was pending; say where the schema stands. */
async function migrated(store: Pick<Store, 'kind'>, deps: CliDeps): Promise<number> {
  const latest = (await loadMigrations()).at(-1)?.version ?? 0;
  deps.out(`ok: ${store.kind} schema is at migration ${latest}\n`);
  return 0;
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
  process.exitCode = await runCli(process.argv.slice(2), cliDeps());
}
