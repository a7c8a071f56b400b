import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { startServer, type ServerHandle } from '../../src/start-server.ts';
import { TEST_SECRET } from '../support/test-app.ts';
import { connect } from '../support/ws-client.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The ConfigError message of loading `env`; fails when it loads. */
function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

/** `npm start` as a child process (node + tsx, no npm in between, so signals reach it). */
function startMain(env: Record<string, string>) {
  const { DATABASE_URL: _db, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...inherited, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match?.[1]) resolve(match[1]);
    });
    void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}${stdout}`)));
  });
  return { child, url, exited, output: () => stdout + stderr };
}

describe('configuration', () => {
  it('applies the documented defaults', () => {
    expect(loadConfig({})).toMatchObject({
      port: 8000,
      host: '127.0.0.1',
      dataDir: './data',
      authMode: 'dev',
      logLevel: 'info',
    });
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: TEST_SECRET }).authMode).toBe('jwt');
  });

  it.each([
    ['PORT', { PORT: 'eighty' }],
    ['PORT', { PORT: '70000' }],
    ['AUTH_MODE', { AUTH_MODE: 'open' }],
    ['JWT_SECRET', { AUTH_MODE: 'jwt', JWT_SECRET: 'short' }],
    ['JWT_SECRET', { AUTH_MODE: 'jwt' }],
    ['JWT_SECRET', { NODE_ENV: 'production' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://db/x' }],
    ['PLANNER', { PLANNER: 'gpt' }],
    ['OPENAI_BASE_URL', { PLANNER: 'openai', OPENAI_MODEL: 'llama3' }],
    [
      'OPENAI_BASE_URL',
      { PLANNER: 'openai', OPENAI_MODEL: 'm', OPENAI_BASE_URL: 'localhost:11434' },
    ],
    ['OPENAI_MODEL', { PLANNER: 'openai', OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' }],
    ['OPENAI_TIMEOUT_MS', { OPENAI_TIMEOUT_MS: 'soon' }],
    ['OPENAI_MAX_RETRIES', { OPENAI_MAX_RETRIES: '-1' }],
    ['OPENAI_MAX_STEPS', { OPENAI_MAX_STEPS: '0' }],
    ['APPROVAL_POLICIES', { APPROVAL_POLICIES: '{transfer: 2}' }],
    ['APPROVAL_POLICIES', { APPROVAL_POLICIES: '{"transfer":{"quorum":0}}' }],
    ['APPROVAL_POLICIES', { APPROVAL_POLICIES: '{"transfer":{"quorom":2}}' }],
  ])('refuses a bad %s with a message naming it', (name, env) => {
    expect(refusal(env)).toContain(name);
  });

  it('reads APPROVAL_POLICIES as policies by tool name', () => {
    const policies = '{"transfer":{"quorum":2,"roles":["approver"],"exclude_requester":true}}';
    expect(loadConfig({ APPROVAL_POLICIES: policies }).approvalPolicies).toEqual({
      transfer: {
        quorum: 2,
        rejections_needed: 1,
        roles: ['approver'],
        exclude_requester: true,
      },
    });
    expect(loadConfig({}).approvalPolicies).toBeUndefined();
  });

  it('uses the built-in planner by default, and reads the OpenAI settings for PLANNER=openai', () => {
    expect(loadConfig({})).toMatchObject({ planner: 'builtin', openai: undefined });
    const local = {
      PLANNER: 'openai',
      OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1',
      OPENAI_MODEL: 'llama3',
    };
    expect(loadConfig(local)).toMatchObject({
      planner: 'openai',
      openai: {
        baseUrl: 'http://127.0.0.1:11434/v1',
        apiKey: undefined,
        model: 'llama3',
        timeoutMs: 60_000,
        maxRetries: 2,
        maxSteps: 10,
      },
    });
    const tuned = loadConfig({
      ...local,
      OPENAI_API_KEY: 'sk-x',
      OPENAI_TIMEOUT_MS: '5000',
      OPENAI_MAX_RETRIES: '0',
      OPENAI_MAX_STEPS: '3',
    });
    expect(tuned.openai).toMatchObject({
      apiKey: 'sk-x',
      timeoutMs: 5_000,
      maxRetries: 0,
      maxSteps: 3,
    });
  });

  it('refuses AUTH_MODE=dev on a non-loopback HOST', async () => {
    let app: ServerHandle | undefined;
    try {
      app = await startServer({
        auth: { mode: 'dev' },
        host: '0.0.0.0',
        port: 0,
        dataDir: 'memory://',
        logLevel: 'silent',
      });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/AUTH_MODE=dev.*0\.0\.0\.0/);
      return;
    } finally {
      await app?.close();
    }
    throw new Error('startServer accepted dev auth on 0.0.0.0');
  });

  it('npm start: a bad variable stops the process with exit code 1, naming it', async () => {
    const main = startMain({ PORT: 'nope' });
    await expect(main.url).rejects.toThrow();
    expect(await main.exited).toBe(1);
    expect(main.output()).toContain('PORT');
  });

  it(
    'npm start: serves, and on SIGTERM closes sockets with 1001 and exits 0',
    { timeout: 90_000 },
    async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'hitl-main-'));
      const main = startMain({ PORT: '0', HOST: '127.0.0.1', AUTH_MODE: 'dev', DATA_DIR: dataDir });
      try {
        const url = await main.url;
        const created = await fetch(`${url}/api/v1/sessions`, { method: 'POST' });
        expect(created.status).toBe(201);
        const { id } = (await created.json()) as { id: string };
        const socket = await connect({ url }, { session_id: id });
        expect((await socket.waitFor('connected')).data.user_id).toBe('dev');
        socket.send({ type: 'execute', command: 'echo before shutdown' });
        await socket.waitFor('complete');

        main.child.kill('SIGTERM');
        expect((await socket.closed).code).toBe(1001);
        expect(await main.exited).toBe(0);
        expect(main.output()).toContain('AUTH_MODE=dev');
      } finally {
        if (main.child.exitCode === null) main.child.kill('SIGKILL');
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  );
});
