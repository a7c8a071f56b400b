import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { createSession } from '../support/test-app.ts';
import { connect } from '../support/ws-client.ts';
import { createDurableData, withDirectDb, type DurableData } from './durable-data.ts';
import { runCommand, runToEnd, startServer, type ServerProcess } from './server-process.ts';

/** Runs one transfer through approval to completion: six events, seq 3 is `approved`. */
async function approvedTransfer(server: ServerProcess): Promise<string> {
  const id = await createSession(server);
  const socket = await connect(server, { session_id: id });
  await socket.waitFor('connected');
  socket.send({ type: 'execute', command: 'transfer 250 USD to alice' });
  const required = await socket.waitFor('approval_required');
  socket.send({ type: 'approve', request_id: required.data.request_id });
  await socket.waitFor('complete');
  await socket.close();
  return id;
}

describe.each(testTargets())('the audit CLI on $name', ({ backend, transport }) => {
  let data: DurableData;
  let tampered: string;
  let clean: string;

  beforeAll(async () => {
    data = await createDurableData(backend, transport);
    const server = await startServer(data);
    tampered = await approvedTransfer(server);
    clean = await approvedTransfer(server);
    // On PGlite the CLI and the direct connection need the data directory to themselves.
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });
  afterAll(async () => {
    await data?.dispose();
  });

  it('`npm run verify -- <session>` passes on an untouched log', async () => {
    const run = await runCommand('npm', ['run', '--silent', 'verify', '--', tampered], data);
    expect(run.output).toContain(`ok: session ${tampered}, 6 events, chain intact`);
    expect(run.code).toBe(0);
  });

  it('fails, naming seq 3, once that row is changed by hand', async () => {
    await withDirectDb(data, async ({ sql }) => {
      const update = `UPDATE events SET data = jsonb_set(data, '{decided_by}', '"mallory"')
        WHERE session_id = $1 AND seq = 3`;
      // The append-only trigger refuses the edit; only someone who turns it off gets through.
      await expect(sql.query(update, [tampered])).rejects.toThrow(/append-only/);
      await sql.transaction(async (tx) => {
        await tx.exec('ALTER TABLE events DISABLE TRIGGER events_append_only');
        const changed = await tx.query(`${update} RETURNING type`, [tampered]);
        expect(changed).toEqual([{ type: 'approved' }]);
        await tx.exec('ALTER TABLE events ENABLE TRIGGER events_append_only');
      });
    });

    const one = await runToEnd('src/cli.ts', ['verify', tampered], data);
    expect(one.output).toContain(`broken: session ${tampered} at seq 3`);
    expect(one.code).toBe(1);

    const all = await runToEnd('src/cli.ts', ['verify', '--all'], data);
    expect(all.output).toContain(`broken: session ${tampered} at seq 3`);
    expect(all.output).toContain('broken: 1 of 2 sessions');
    expect(all.output).not.toContain(clean);
    expect(all.code).toBe(1);
  });
});
