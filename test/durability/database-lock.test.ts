import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createSession } from '../support/test-app.ts';
import { createDurableData, type DurableData } from './durable-data.ts';
import {
  runScript,
  startServer,
  type RunningProcess,
  type ServerProcess,
} from './server-process.ts';

const WAITING = 'waiting for the database lock held by another server process';

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const count = (text: string, part: string) => text.split(part).length - 1;

// Issue "Hardening": a second server on one DATABASE_URL kept its own copy of each session,
// and commands sent to it got no answer (its writes were refused with seq_out_of_order).
describe.skipIf(!process.env['DATABASE_URL'])(
  'one server per PostgreSQL schema (skipped without DATABASE_URL)',
  () => {
    const datas: DurableData[] = [];
    const servers: ServerProcess[] = [];
    const runs: RunningProcess[] = [];
    afterEach(async () => {
      for (const run of runs.splice(0)) run.child.kill('SIGKILL');
      await Promise.all(servers.splice(0).map((s) => s.kill()));
      await Promise.all(datas.splice(0).map((d) => d.dispose()));
    });
    const data = async () => {
      const d = await createDurableData('postgres');
      datas.push(d);
      return d;
    };
    const server = async (d: DurableData, env: Record<string, string> = {}) => {
      const s = await startServer(d, env);
      servers.push(s);
      return s;
    };
    const second = (d: DurableData, env: Record<string, string> = {}) => {
      const run = runScript('src/main.ts', [], d, env);
      runs.push(run);
      return run;
    };

    it('makes a second server wait, saying so once, and serve once the first stops', async () => {
      const d = await data();
      const first = await server(d);
      const id = await createSession(first);
      const waiting = second(d);
      await until(() => waiting.output().includes(WAITING), 20_000, 'the wait to be logged');
      await sleep(1_000);
      expect(waiting.output()).not.toContain('listening on');
      expect(await createSession(first)).toMatch(/\S/); // the first serves all along

      expect(await first.stop()).toEqual({ code: 0, signal: null });
      await until(() => /listening on/.test(waiting.output()), 20_000, 'the second to listen');
      const url = /listening on (http:\/\/\S+)/.exec(waiting.output())?.[1] ?? '';
      const answer = await fetch(`${url}/api/v1/sessions/${id}`);
      expect(answer.status).toBe(200); // it serves the first one's sessions
      expect(count(waiting.output(), WAITING)).toBe(1);
    }, 60_000);

    it('exits with database_locked past DB_LOCK_WAIT_MS while the first stays up', async () => {
      const d = await data();
      const first = await server(d);
      const started = Date.now();
      const refused = second(d, { DB_LOCK_WAIT_MS: '1500' });
      expect(await refused.exited).toEqual({ code: 1, signal: null });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
      expect(refused.output()).toContain('database_locked');
      expect(refused.output()).toContain(`database lock of schema ${d.location}`);
      expect(refused.output()).not.toContain('listening on');
      expect(await createSession(first)).toMatch(/\S/);
    }, 60_000);

    it('lets servers on other schemas of one database run side by side', async () => {
      const [a, b] = await Promise.all([data(), data()]);
      const first = await server(a);
      const other = await server(b, { DB_LOCK_WAIT_MS: '0' });
      expect(await createSession(other)).toMatch(/\S/);
      expect(await createSession(first)).toMatch(/\S/);
    }, 60_000);
  },
);
