import { mkdir, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { TEST_SECRET, createSession, http, signToken } from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import { createDurableData, withDirectDb, type DurableData } from './durable-data.ts';
import { ROOT, runCommand, startServer, type ServerProcess } from './server-process.ts';
import { auditLog, type LoggedEvent } from './wire.ts';
import { FOUR_EYES_FLOW } from '../support/four-eyes.ts';

/**
 * The four-eyes flow across a kill -9 (AUTH_MODE=jwt, a real server process): the first vote
 * is stored before it is acknowledged, so after the restart it still counts, and the second
 * approver completes the request. Then the audit chain: it verifies over the votes, and a
 * vote changed by hand breaks it. The log of the run is kept in test-artifacts/ (the example
 * in docs/protocol.md was taken from it).
 */

const JWT = { AUTH_MODE: 'jwt', JWT_SECRET: TEST_SECRET };

describe.each(testTargets())('four eyes across a crash on $name', ({ backend, transport }) => {
  let data: DurableData;
  let server: ServerProcess;
  const sockets: TestSocket[] = [];
  const tokens: Record<string, string> = {};
  let sessionId = '';
  let required: WireEvent;
  let log: LoggedEvent[] = [];

  beforeAll(async () => {
    data = await createDurableData(backend, transport);
    server = await startServer(data, JWT);
    for (const user of ['ann', 'bob', 'cara']) {
      tokens[user] = await signToken(user, { roles: ['approver'] });
    }
  });
  afterAll(async () => {
    for (const socket of sockets) socket.ws.terminate();
    await server?.stop();
    await data?.dispose();
  });

  it('the first vote is stored before it is acknowledged, and still counts after kill -9', async () => {
    sessionId = await createSession(server, tokens['ann']);
    const ann = await connect(server, { session_id: sessionId, token: tokens['ann']! });
    sockets.push(ann);
    await ann.waitFor('connected');
    ann.send({ type: 'execute', command: 'transfer 20000 USD to carol' });
    required = await ann.waitFor('approval_required');
    const requestId = String(required.data.request_id);

    const own = await http(server, 'POST', `/api/v1/approvals/${requestId}/approve`, {
      token: tokens['ann']!,
    });
    expect(own).toMatchObject({ status: 403, body: { error: { code: 'approver_not_allowed' } } });
    // bob's REST vote answers once the vote is stored: nothing of it can be lost after that.
    const vote = await http(server, 'POST', `/api/v1/approvals/${requestId}/approve`, {
      token: tokens['bob']!,
    });
    expect(vote).toMatchObject({ status: 200, body: { status: 'pending', votes_so_far: 1 } });
    expect(await server.kill()).toEqual({ code: null, signal: 'SIGKILL' });

    server = await startServer(data, JWT);
    const pending = await http<{ approvals: Record<string, unknown>[] }>(
      server,
      'GET',
      '/api/v1/approvals?status=pending',
      { token: tokens['cara']! },
    );
    expect(pending.body.approvals.find((a) => a['request_id'] === requestId)).toMatchObject({
      votes: [{ by: 'bob', vote: 'approve' }],
      votes_so_far: 1,
      needed: 2,
      may_vote: true,
    });
    const again = await http(server, 'POST', `/api/v1/approvals/${requestId}/approve`, {
      token: tokens['bob']!,
    });
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'already_voted' } } });

    const watcher = await connect(server, {
      session_id: sessionId,
      token: tokens['ann']!,
      last_seq: required.seq,
    });
    sockets.push(watcher);
    const second = await http(server, 'POST', `/api/v1/approvals/${requestId}/approve`, {
      token: tokens['cara']!,
    });
    expect(second).toMatchObject({
      status: 200,
      body: { status: 'approved', decided_by: 'bob, cara' },
    });
    await watcher.waitFor('complete', { timeoutMs: 10_000 });

    log = await auditLog(server, sessionId, tokens['ann']);
    expect(log.map((e) => e.type)).toEqual(FOUR_EYES_FLOW);
    expect(log.filter((e) => e.type === 'approval_vote').map((e) => e.data as unknown)).toEqual([
      expect.objectContaining({ decided_by: 'bob', votes_so_far: 1, needed: 2 }),
      expect.objectContaining({ decided_by: 'cara', votes_so_far: 2, needed: 2 }),
    ]);
    expect(log.find((e) => e.type === 'approved')?.data.decided_by).toEqual(['bob', 'cara']);
    await mkdir(`${ROOT}test-artifacts`, { recursive: true });
    await writeFile(
      `${ROOT}test-artifacts/four-eyes-log.${backend}.json`,
      `${JSON.stringify(log, null, 2)}\n`,
    );
  });

  it('verify passes over the votes, and a vote changed by hand breaks the chain there', async () => {
    // On PGlite the CLI and the direct connection need the data directory to themselves.
    expect(await server.stop()).toEqual({ code: 0, signal: null });
    const ok = await runCommand('npm', ['run', '--silent', 'verify', '--', sessionId], data);
    expect(ok.output).toContain(`ok: session ${sessionId}, ${log.length} events, chain intact`);
    expect(ok.code).toBe(0);

    const first = log.find((e) => e.type === 'approval_vote')!;
    await withDirectDb(data, async ({ sql }) => {
      await sql.transaction(async (tx) => {
        await tx.exec('ALTER TABLE events DISABLE TRIGGER events_append_only');
        const changed = await tx.query(
          `UPDATE events SET data = jsonb_set(data, '{decided_by}', '"mallory"')
            WHERE session_id = $1 AND seq = $2 RETURNING type`,
          [sessionId, first.seq],
        );
        expect(changed).toEqual([{ type: 'approval_vote' }]);
        await tx.exec('ALTER TABLE events ENABLE TRIGGER events_append_only');
      });
    });
    const broken = await runCommand('npm', ['run', '--silent', 'verify', '--', sessionId], data);
    expect(broken.output).toContain(`broken: session ${sessionId} at seq ${first.seq}`);
    expect(broken.code).toBe(1);
    server = await startServer(data, JWT);
  });
});
