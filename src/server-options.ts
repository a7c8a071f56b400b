import type { Logger } from 'pino';
import { z } from 'zod';
import type { Planner } from './agent/planner.ts';
import type { ApprovalPolicyRule, ToolDefinition } from './agent/tool.ts';
import { ConfigError, type Config } from './config.ts';
import type { Clock } from './runtime/clock.ts';
import type { ServerLimits, TransportPreference } from './server/index.ts';
import { builtinTools } from './agent/builtin-tools.ts';
import { createOpenAIPlanner } from './agent/openai/index.ts';
import type { AuthConfig } from './auth/index.ts';
import type { Store } from './store/store.ts';

/** How callers are authenticated (the same shape the authenticator takes). */
export type AuthOptions = AuthConfig;

export interface ClusterOptions {
  /** NATS server URL(s), comma-separated (`nats://127.0.0.1:4222`). */
  natsUrl: string;
  /** This node's id (letters, digits, `.`, `_`, `-`); default `<host>-<pid>-<random>`. */
  nodeId?: string | undefined;
  /** A node that cannot heartbeat for this long stops its sessions; others may take them (default 5000). */
  leaseMs?: number | undefined;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface ServerOptions {
  /** Exactly the tools the agent may call. Default: the built-in demo tools. */
  tools?: readonly ToolDefinition[] | undefined;
  /**
   * Approval policies by tool name, in place of the tools' own (`APPROVAL_POLICIES` for the
   * built-in ones): a policy, or a function of the call's args returning one (null: default).
   */
  approvalPolicies?:
    Readonly<Record<string, ApprovalPolicyRule<Record<string, unknown>>>> | undefined;
  /** Default: the built-in planner (a `plan` in `execute`, else simple command rules). */
  planner?: Planner | undefined;
  /** A store the caller opened and closes; otherwise one is opened from databaseUrl/dataDir. */
  store?: Store | undefined;
  /** PostgreSQL (`postgres://...`); when unset, embedded PGlite in `dataDir`. */
  databaseUrl?: string | undefined;
  /** PGlite directory (default `./data`); `memory://` for a throwaway database. */
  dataDir?: string | undefined;
  /**
   * PostgreSQL: how long to wait for another server process on the same database and schema
   * to stop before failing with `database_locked` (default 30000).
   */
  dbLockWaitMs?: number | undefined;
  /**
   * Cluster mode: several server processes on one PostgreSQL (`databaseUrl`, required), with
   * NATS routing each session's commands to the node that owns it and its events to sockets
   * on other nodes. Unset: one process, as always.
   */
  cluster?: ClusterOptions | undefined;
  /** Default `{ mode: 'dev' }`, refused on a non-loopback host. */
  auth?: AuthOptions | undefined;
  /**
   * With jwt auth, the bearer token `GET /metrics` requires (Prometheus text); unset, there is
   * no `/metrics` route. With dev auth `/metrics` is open.
   */
  metricsToken?: string | undefined;
  /** A pino logger; default one at `logLevel` (default `info`) on stdout. */
  logger?: Logger | undefined;
  logLevel?: LogLevel | undefined;
  limits?: Partial<ServerLimits> | undefined;
  /** Default `127.0.0.1`. */
  host?: string | undefined;
  /** Default 8000; 0 picks a free port (see the handle's `port`). */
  port?: number | undefined;
  /** How long an approval request stays open (default 15 minutes). */
  approvalTtlMs?: number | undefined;
  /**
   * An idle session actor (no socket, nothing running, no approval due within a second) leaves
   * memory after this long and comes back from its snapshot on its next use (default 60000;
   * 0: never).
   */
  passivateAfterMs?: number | undefined;
  clock?: Clock | undefined;
  /** `auto` (default): uWebSockets.js where a build loads, else the portable `ws` transport. */
  transport?: TransportPreference | undefined;
}

const scalarSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535).default(8000),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  dataDir: z.string().min(1).default('./data'),
  dbLockWaitMs: z.number().int().min(0).default(30_000),
  approvalTtlMs: z
    .number()
    .int()
    .min(1_000)
    .default(15 * 60_000),
  passivateAfterMs: z.number().int().min(0).default(60_000),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  transport: z.enum(['auto', 'uws', 'portable']).default('auto'),
  metricsToken: z.string().min(1).optional(),
  cluster: z
    .object({
      natsUrl: z.string().regex(/^(nats|tls):\/\//, 'must be a nats:// URL'),
      nodeId: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_" or "-"')
        .optional(),
      leaseMs: z.number().int().min(1_000).default(5_000),
    })
    .optional(),
});

const authSchema = z
  .object({
    mode: z.enum(['dev', 'jwt']),
    secret: z.string().min(32, 'must be at least 32 characters').optional(),
    jwksUrl: z.url().optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
    issuer: z.string().optional(),
    audience: z.string().optional(),
  })
  .refine((a) => a.mode === 'dev' || a.secret || a.jwksUrl || a.jwks, {
    message: 'jwt auth needs a secret, a jwks or a jwksUrl',
    path: ['mode'],
  });

export type ResolvedScalars = z.output<typeof scalarSchema>;

/** The options with their defaults; a bad value throws a ConfigError naming the option. */
export function resolveServerOptions(options: ServerOptions): ResolvedScalars & {
  auth: AuthOptions;
} {
  const scalars = scalarSchema.safeParse(definedOnly(options));
  const auth = authSchema.safeParse(definedOnly(options.auth ?? { mode: 'dev' }));
  const issues = [
    ...(scalars.error?.issues ?? []),
    ...(auth.error?.issues.map((i) => ({ ...i, path: ['auth', ...i.path] })) ?? []),
  ];
  if (options.tools !== undefined && !Array.isArray(options.tools)) {
    issues.push({ code: 'custom', path: ['tools'], message: 'must be an array of tools' });
  }
  if (
    options.approvalPolicies !== undefined &&
    (typeof options.approvalPolicies !== 'object' || options.approvalPolicies === null)
  ) {
    issues.push({ code: 'custom', path: ['approvalPolicies'], message: 'must be an object' });
  }
  if (options.planner !== undefined && typeof options.planner?.next !== 'function') {
    issues.push({ code: 'custom', path: ['planner'], message: 'must have a next() method' });
  }
  if (options.cluster && options.databaseUrl === undefined) {
    issues.push({
      code: 'custom',
      path: ['cluster'],
      message:
        "cluster mode needs databaseUrl: the nodes share one PostgreSQL (PGlite is one process's database)",
    });
  }
  if (options.store && (options.databaseUrl !== undefined || options.dataDir !== undefined)) {
    issues.push({ code: 'custom', path: ['store'], message: 'pass store or databaseUrl/dataDir' });
  }
  if (!scalars.success || !auth.success || issues.length > 0) {
    const lines = issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid server options:\n  ${lines.join('\n  ')}`);
  }
  return { ...scalars.data, auth: options.auth ?? { mode: 'dev' } };
}

/** Drops keys whose value is undefined, so zod applies the defaults. */
function definedOnly(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}

/** What `npm start` and `hitl-runtime serve` pass: the environment's configuration. */
export function serverOptionsFromConfig(config: Config): ServerOptions {
  const tools = builtinTools();
  return {
    tools,
    ...(config.openai ? { planner: createOpenAIPlanner({ ...config.openai, tools }) } : {}),
    transport: config.transport,
    host: config.host,
    port: config.port,
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    dbLockWaitMs: config.dbLockWaitMs,
    cluster: config.cluster,
    logLevel: config.logLevel,
    approvalTtlMs: config.approvalTtlMs,
    ...(config.approvalPolicies ? { approvalPolicies: config.approvalPolicies } : {}),
    passivateAfterMs: config.passivateAfterMs,
    metricsToken: config.metricsToken,
    limits: {
      maxConnections: config.maxConnections,
      maxSocketsPerUser: config.maxSocketsPerUser,
      messageRate: config.messageRate,
      messageBurst: config.messageBurst,
      sessionsPerMinute: config.sessionsPerMinute,
      maxLiveSessionsPerUser: config.maxSessionsPerUser,
    },
    auth: {
      mode: config.authMode,
      secret: config.jwtSecret,
      jwksUrl: config.jwksUrl,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
    },
  };
}
