import { SignJWT } from 'jose';
import pino from 'pino';
import { builtinTools } from '../../src/agent/builtin-tools.ts';
import { createLedger, type Ledger } from '../../src/agent/ledger.ts';
import { loadConfig } from '../../src/config.ts';
import { serverOptionsFromConfig, type ServerOptions } from '../../src/server-options.ts';
import { startApp, type App as RunningApp } from '../../src/start-server.ts';
import type { Store } from '../../src/store/store.ts';

/** Per-user limits far above what a test does, unless the test sets its own. */
export const UNLIMITED = {
  MAX_SOCKETS_PER_USER: '100000',
  MESSAGE_RATE: '1000000',
  MESSAGE_BURST: '1000000',
  SESSIONS_PER_MINUTE: '1000000',
  MAX_SESSIONS_PER_USER: '1000000',
};

export const TEST_SECRET = 'test-secret-that-is-at-least-32-characters-long';

/** The running app, and the demo ledger its built-in tools move money in. */
export interface App extends RunningApp {
  ledger: Ledger;
}

export interface TestAppOptions extends Omit<ServerOptions, 'store' | 'auth'> {
  store: Store;
  authMode?: 'dev' | 'jwt';
  /** Environment variables, read as `npm start` reads them. */
  env?: Record<string, string>;
  ledger?: Ledger;
  auth?: Partial<NonNullable<ServerOptions['auth']>>;
}

/** The real server on 127.0.0.1:0 over the given store (which the caller closes). */
export async function startTestApp(options: TestAppOptions): Promise<App> {
  const {
    store,
    authMode = 'jwt',
    env = {},
    ledger = createLedger(),
    auth,
    limits,
    ...rest
  } = options;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    AUTH_MODE: authMode,
    LOG_LEVEL: 'silent',
    ...(authMode === 'jwt' ? { JWT_SECRET: TEST_SECRET } : {}),
    ...UNLIMITED,
    ...env,
  });
  const { databaseUrl: _url, dataDir: _dir, ...fromConfig } = serverOptionsFromConfig(config);
  const app = await startApp({
    ...fromConfig,
    auth: { ...fromConfig.auth, mode: config.authMode, ...auth },
    limits: { ...fromConfig.limits, ...limits },
    store,
    tools: builtinTools(ledger),
    logger: pino({ level: 'silent' }),
    ...rest,
  });
  return Object.assign(app, { ledger });
}

/** An HS256 token for `sub`; `roles`, expiry and audience as a test needs. */
export function signToken(
  sub: string,
  options: {
    roles?: string[];
    expiresIn?: string | number;
    audience?: string;
    issuer?: string;
    secret?: string;
  } = {},
): Promise<string> {
  let jwt = new SignJWT({ roles: options.roles ?? [] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h');
  if (options.audience) jwt = jwt.setAudience(options.audience);
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  return jwt.sign(new TextEncoder().encode(options.secret ?? TEST_SECRET));
}

export interface HttpAnswer<T = any> {
  status: number;
  body: T;
}

/** A JSON request to the app, with a bearer token when given. */
export async function http<T = any>(
  app: Pick<App, 'url'>,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<HttpAnswer<T>> {
  const response = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
}

export async function createSession(app: Pick<App, 'url'>, token?: string): Promise<string> {
  const answer = await http<{ id: string }>(
    app,
    'POST',
    '/api/v1/sessions',
    token ? { token } : {},
  );
  if (answer.status !== 201)
    throw new Error(`create session: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body.id;
}
