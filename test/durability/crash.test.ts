import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { createSession } from '../support/test-app.ts';
import { createDurableData, withDirectDb, type DurableData } from './durable-data.ts';
import { runToEnd, startServer, type ServerProcess } from './server-process.ts';
import { SessionDriver, type PlanStep } from './session-driver.ts';
import type { LoggedEvent } from './wire.ts';

const SESSIONS = 40;
const MAX_EXECUTIONS = 50;
/** SIGKILLs during the load; after the last restart the sessions are driven to rest. */
const CRASHES = 2;

/** Four transfers per execution, two needing approval, each told apart by its amount. */
const plan = (execution: number): PlanStep[] => [
  { tool: 'transfer', args: { to: 'bob', amount: 150, currency: 'USD' } },
  { tool: 'transfer', args: { to: 'carol', amount: 30, currency: 'USD' } },
  { tool: 'echo', args: { text: `execution ${execution}` } },
  { tool: 'transfer', args: { to: 'alice', amount: 130, currency: 'USD' } },
  { tool: 'transfer', args: { to: 'bob', amount: 40, currency: 'USD' } },
];
const TRANSFER_STEPS = plan(0).filter((s) => s.tool === 'transfer').length;

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe.each(testTargets())('crash (SIGKILL) on $name', ({ backend, transport }) => {
  let data: DurableData;
  let server: ServerProcess;
  let drivers: SessionDriver[] = [];

  beforeAll(async () => {
    data = await createDurableData(backend, transport);
    server = await startServer(data);
  });
  afterAll(async () => {
    for (const driver of drivers) driver.terminate();
    await server?.stop();
    await data?.dispose();
  });

  it('loses no acknowledged decision, runs no transfer twice, and every chain verifies', async () => {
    const ids = await Promise.all(Array.from({ length: SESSIONS }, () => createSession(server)));
    drivers = ids.map((id) => new SessionDriver(id, plan, MAX_EXECUTIONS));
    await Promise.all(drivers.map((d) => d.attach(server, { keepExecuting: true })));
    const acked = () => drivers.reduce((n, d) => n + d.acked.size, 0);

    for (let crash = 1; crash <= CRASHES; crash += 1) {
      const target = acked() + SESSIONS;
      await until(() => acked() >= target, 30_000, `${target} acknowledged approvals`);
      await sleep(Math.random() * 100);
      expect(await server.kill()).toEqual({ code: null, signal: 'SIGKILL' });
      await Promise.all(drivers.map((d) => d.closed()));
      server = await startServer(data);
      const keepExecuting = crash < CRASHES;
      await Promise.all(drivers.map((d) => d.attach(server, { keepExecuting })));
    }
    await Promise.all(drivers.map((d) => d.settle(30_000)));

    // Every session resumed after the crashes and was driven to rest, seqs without gap.
    expect(drivers.flatMap((d) => d.problems.map((p) => `${d.id}: ${p}`))).toEqual([]);
    expect(drivers.filter((d) => d.state !== 'complete').map((d) => [d.id, d.state])).toEqual([]);
    // A graceful stop stores whatever was still in flight; then the data is read directly.
    expect(await server.stop()).toEqual({ code: 0, signal: null });

    const verify = await runToEnd('src/cli.ts', ['verify', '--all'], data);
    expect(verify.output).toContain(`ok: ${SESSIONS} sessions`);
    expect(verify.code).toBe(0);

    await withDirectDb(data, async ({ sql, store }) => {
      const approvals = new Map(
        (await sql.query('SELECT request_id, call_id, status FROM approvals')).map((r) => [
          String(r.request_id),
          { call_id: String(r.call_id), status: String(r.status) },
        ]),
      );
      const outcomes = await sql.query(
        `SELECT session_id, call_id, status, result FROM tool_outcomes WHERE tool = 'transfer'`,
      );
      for (const driver of drivers) {
        const log = (await store.readEvents(driver.id, 0, 100_000)) as LoggedEvent[];
        checkSession(driver, log, approvals, outcomes);
      }
    });
  }, 120_000);
});

type Row = Record<string, unknown>;

/** What must hold for one session after the crashes, from its audit log and the tables. */
function checkSession(
  driver: SessionDriver,
  log: LoggedEvent[],
  approvals: Map<string, { call_id: string; status: string }>,
  outcomes: Row[],
): void {
  const where = `session ${driver.id}`;
  const results = log.filter((e) => e.type === 'tool_result');
  const resultCalls = new Set(results.map((e) => e.data.call_id as string));
  const unknownCalls = new Set(
    log
      .filter((e) => e.type === 'error' && e.data.code === 'tool_outcome_unknown')
      .map((e) => e.data.call_id as string),
  );

  // No acknowledged decision is lost: it is stored as approved and its call was carried out
  // (or, when the process died inside the call, handed back to a human).
  for (const requestId of driver.acked) {
    const approval = approvals.get(requestId);
    expect(approval?.status, `${where}: ${requestId}`).toBe('approved');
    const callId = approval!.call_id;
    expect(resultCalls.has(callId) || unknownCalls.has(callId), `${where}: ${callId}`).toBe(true);
  }

  // A call is never run again under its id: a restored session that reports it again (the
  // log may hold a transition twice, see docs/architecture.md) reports the recorded result.
  const mine = outcomes.filter((r) => r.session_id === driver.id);
  const recorded = new Map(mine.map((r) => [String(r.call_id), r]));
  for (const result of results.filter((e) => e.data.tool === 'transfer')) {
    const callId = String(result.data.call_id);
    const outcome = recorded.get(callId);
    expect(outcome?.status, `${where}: ${callId}`).toBe('succeeded');
    expect(result.data.result).toEqual(outcome?.result);
  }

  // Nor under a new id: per execution, each transfer step (told apart by its amount) has
  // exactly one call that ran, and every execution the log started has ended.
  const stepOf = new Map(
    log
      .filter((e) => e.type === 'tool_call' && e.data.tool === 'transfer')
      .map((e) => [e.data.call_id as string, `${e.execution_id}/${e.data.args.amount}`]),
  );
  const runs = new Map<string, number>();
  const unlogged: string[] = [];
  for (const row of mine.filter((r) => r.status === 'succeeded')) {
    const step = stepOf.get(String(row.call_id));
    if (step === undefined) unlogged.push(String(row.call_id));
    else runs.set(step, (runs.get(step) ?? 0) + 1);
  }
  expect(unlogged, `${where}: transfers that ran without a stored tool_call`).toEqual([]);
  expect(
    [...runs].filter(([, n]) => n !== 1),
    `${where}: steps that ran more than once`,
  ).toEqual([]);
  const started = new Set(log.filter((e) => e.type === 'thinking').map((e) => e.execution_id));
  const ended = new Set(log.filter((e) => e.type === 'complete').map((e) => e.execution_id));
  expect(
    [...started].filter((id) => !ended.has(id)),
    `${where}: executions never ended`,
  ).toEqual([]);
  expect(runs.size, where).toBe(ended.size * TRANSFER_STEPS);

  // Nothing half-written: the rows a transition implies went in with its events, whatever
  // moment the SIGKILLs hit (they are one statement).
  const calls = log.filter((e) => e.type === 'tool_call' && e.data.tool === 'transfer');
  expect(
    calls.map((e) => String(e.data.call_id)).filter((id) => !recorded.has(id)),
    `${where}: transfer calls stored without their start row`,
  ).toEqual([]);
  const requests = log.filter((e) => e.type === 'approval_required');
  expect(
    requests.map((e) => String(e.data.request_id)).filter((id) => !approvals.has(id)),
    `${where}: approval requests stored without their row`,
  ).toEqual([]);
  const decided = log.filter((e) => e.type === 'approved' || e.type === 'edit_approved');
  expect(
    decided
      .map((e) => String(e.data.request_id))
      .filter((id) => !['approved', 'edited'].includes(approvals.get(id)?.status ?? '')),
    `${where}: approvals stored without their decision`,
  ).toEqual([]);
}
