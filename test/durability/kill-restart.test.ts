import { afterAll, describe, expect, it } from 'vitest';
import { createSession } from '../support/test-app.ts';
import { createDurableData, type DurableData } from './durable-data.ts';
import { startServerWithNpm, type ServerProcess } from './server-process.ts';

const CYCLES = 20;
/** The figure, reported (not asserted: start-up time is the machine's, not the lock's). */
const SERVE_WITHIN_MS = 5_000;
/** A start that takes this long failed; one refused with data_dir_locked exits at once. */
const START_TIMEOUT_MS = 30_000;

/** Every session created so far answers 200 from this server. */
async function allThere(server: ServerProcess, ids: readonly string[]): Promise<boolean> {
  const answers = await Promise.all(ids.map((id) => fetch(`${server.url}/api/v1/sessions/${id}`)));
  return answers.every((a) => a.status === 200);
}

// Issue "Hardening": a restart right after kill -9 refused to start with data_dir_locked,
// naming the dead (not yet reaped) process. PGlite only: PostgreSQL has no data dir lock.
describe('restart at once after kill -9 of the process group (pglite, npm start)', () => {
  let data: DurableData | undefined;
  let server: ServerProcess | undefined;
  afterAll(async () => {
    server?.killGroup();
    await server?.exited;
    await data?.dispose();
  });

  it(`serves again at once each time, ${CYCLES} times, with its data`, async () => {
    data = await createDurableData('pglite');
    server = await startServerWithNpm(data);
    const ids = [await createSession(server)];
    const served: number[] = [];
    const refused: string[] = [];

    for (let cycle = 1; cycle <= CYCLES; cycle += 1) {
      const dead = server;
      dead.killGroup();
      const killedAt = performance.now();
      try {
        server = await startServerWithNpm(data, {}, START_TIMEOUT_MS);
        ids.push(await createSession(server));
        served.push(performance.now() - killedAt);
        expect(await allThere(server, ids)).toBe(true);
      } catch (error) {
        refused.push(`cycle ${cycle}: ${error instanceof Error ? error.message : String(error)}`);
        await dead.exited;
        server = await startServerWithNpm(data); // go on, so every cycle is counted
      }
      await dead.exited;
    }

    const sorted = [...served].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
    const inTime = served.filter((ms) => ms <= SERVE_WITHIN_MS).length;
    console.info(
      `kill -9 + restart: ${inTime}/${CYCLES} served within ${SERVE_WITHIN_MS} ms;` +
        ` median ${median.toFixed(0)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(0)} ms`,
    );
    expect(refused).toEqual([]);
    expect(served).toHaveLength(CYCLES);
  }, 600_000);
});
