import { approvalPolicySchema } from '../machines/session.policy.ts';
import { z } from 'zod';

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

/** `{"transfer": {"quorum": 2, ...}}`: a JSON object of policies by tool name. */
const approvalPoliciesJson = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be JSON: {"<tool>": {<policy>}, ...}' });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string().min(1), approvalPolicySchema))
  .optional();

const configSchema = z
  .object({
    NODE_ENV: z.string().optional(),
    PORT: z.coerce.number().int().min(0).max(65_535).default(8000),
    HOST: z.string().min(1).default('127.0.0.1'),
    DATABASE_URL: optionalString.pipe(
      z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
        .optional(),
    ),
    DATA_DIR: z.string().min(1).default('./data'),
    DB_LOCK_WAIT_MS: z.coerce.number().int().min(0).default(30_000),
    /** Cluster mode: the NATS server(s), comma-separated; needs DATABASE_URL. */
    NATS_URL: optionalString.pipe(
      z
        .string()
        .regex(
          /^(nats|tls):\/\/[^,\s]+(,(nats|tls):\/\/[^,\s]+)*$/,
          'must be nats:// URLs, comma-separated',
        )
        .optional(),
    ),
    NODE_ID: optionalString.pipe(
      z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_" or "-"')
        .optional(),
    ),
    CLUSTER_LEASE_MS: z.coerce.number().int().min(1_000).default(5_000),
    AUTH_MODE: z.enum(['dev', 'jwt']).optional(),
    JWT_SECRET: optionalString,
    JWT_JWKS_URL: optionalString.pipe(z.url().optional()),
    JWT_ISSUER: optionalString,
    JWT_AUDIENCE: optionalString,
    METRICS_TOKEN: optionalString,
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
    APPROVAL_TTL_MS: z.coerce
      .number()
      .int()
      .min(1_000)
      .default(15 * 60_000),
    /** Approval policies by tool name, as JSON, in place of the tools' own (the built-in ones). */
    APPROVAL_POLICIES: optionalString.pipe(approvalPoliciesJson),
    PASSIVATE_AFTER_MS: z.coerce.number().int().min(0).default(60_000),
    MAX_CONNECTIONS: z.coerce.number().int().min(1).default(100_000),
    TRANSPORT: z.enum(['auto', 'uws', 'portable']).default('auto'),
    MAX_SOCKETS_PER_USER: z.coerce.number().int().min(1).default(100),
    MESSAGE_RATE: z.coerce.number().min(0.1).default(100),
    MESSAGE_BURST: z.coerce.number().int().min(1).default(200),
    SESSIONS_PER_MINUTE: z.coerce.number().int().min(1).default(60),
    MAX_SESSIONS_PER_USER: z.coerce.number().int().min(1).default(1_000),
    PLANNER: z.enum(['builtin', 'openai']).default('builtin'),
    OPENAI_BASE_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
    OPENAI_API_KEY: optionalString,
    OPENAI_MODEL: optionalString,
    OPENAI_TIMEOUT_MS: z.coerce.number().int().min(1).default(60_000),
    OPENAI_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
    OPENAI_MAX_STEPS: z.coerce.number().int().min(1).default(10),
  })
  .transform((env, ctx) => {
    const authMode = env.AUTH_MODE ?? (env.NODE_ENV === 'production' ? 'jwt' : 'dev');
    if (authMode === 'jwt' && !env.JWT_SECRET && !env.JWT_JWKS_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['JWT_SECRET'],
        message: 'AUTH_MODE=jwt needs JWT_SECRET or JWT_JWKS_URL',
      });
    }
    if (env.JWT_SECRET !== undefined && env.JWT_SECRET.length < 32) {
      ctx.addIssue({
        code: 'custom',
        path: ['JWT_SECRET'],
        message: 'must be at least 32 characters',
      });
    }
    if (env.NATS_URL !== undefined && env.DATABASE_URL === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['NATS_URL'],
        message:
          "cluster mode needs DATABASE_URL: the nodes share one PostgreSQL (PGlite is one process's database)",
      });
    }
    if (env.PLANNER === 'openai') {
      for (const name of ['OPENAI_BASE_URL', 'OPENAI_MODEL'] as const) {
        if (env[name] === undefined) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'required when PLANNER=openai' });
        }
      }
    }
    return {
      port: env.PORT,
      host: env.HOST,
      databaseUrl: env.DATABASE_URL,
      dataDir: env.DATA_DIR,
      dbLockWaitMs: env.DB_LOCK_WAIT_MS,
      cluster:
        env.NATS_URL === undefined
          ? undefined
          : { natsUrl: env.NATS_URL, nodeId: env.NODE_ID, leaseMs: env.CLUSTER_LEASE_MS },
      authMode,
      jwtSecret: env.JWT_SECRET,
      jwksUrl: env.JWT_JWKS_URL,
      jwtIssuer: env.JWT_ISSUER,
      jwtAudience: env.JWT_AUDIENCE,
      metricsToken: env.METRICS_TOKEN,
      logLevel: env.LOG_LEVEL,
      approvalTtlMs: env.APPROVAL_TTL_MS,
      approvalPolicies: env.APPROVAL_POLICIES,
      passivateAfterMs: env.PASSIVATE_AFTER_MS,
      maxConnections: env.MAX_CONNECTIONS,
      transport: env.TRANSPORT,
      maxSocketsPerUser: env.MAX_SOCKETS_PER_USER,
      messageRate: env.MESSAGE_RATE,
      messageBurst: env.MESSAGE_BURST,
      sessionsPerMinute: env.SESSIONS_PER_MINUTE,
      maxSessionsPerUser: env.MAX_SESSIONS_PER_USER,
      planner: env.PLANNER,
      /** Options of createOpenAIPlanner (less its tools) when PLANNER=openai. */
      openai:
        env.PLANNER === 'openai'
          ? {
              baseUrl: env.OPENAI_BASE_URL ?? '',
              apiKey: env.OPENAI_API_KEY,
              model: env.OPENAI_MODEL ?? '',
              timeoutMs: env.OPENAI_TIMEOUT_MS,
              maxRetries: env.OPENAI_MAX_RETRIES,
              maxSteps: env.OPENAI_MAX_STEPS,
            }
          : undefined,
    };
  });

export type Config = z.output<typeof configSchema>;

export class ConfigError extends Error {
  readonly code = 'invalid_config';
}

/** Reads the environment once. A bad value throws a ConfigError naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map(
    (issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`,
  );
  throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
}
