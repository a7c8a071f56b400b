import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../support/stores.ts';
import { createSession } from '../support/test-app.ts';
import { createDurableData, withDirectDb, type DurableData } from './durable-data.ts';
import { runToEnd, startServer, type ServerProcess } from './server-process.ts';
import { SessionDriver, type PlanStep } from './session-driver.ts';
import { auditLog, type LoggedEvent } from './wire.ts';

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

describe.each(testBackends())('crash (SIGKILL) on %s', (backend) => {
  let data: DurableData;
  let server: ServerProcess;
  let drivers: SessionDriver[] = [];

  beforeAll(async () => {
    data = await createDurableData(backend);
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
    const logs = new Map<string, LoggedEvent[]>();
    for (const id of ids) logs.set(id, await auditLog(server, id));
    expect(await server.stop()).toEqual({ code: 0, signal: null });

    const verify = await runToEnd('src/cli.ts', ['verify', '--all'], data);
    expect(verify.output).toContain(`ok: ${SESSIONS} sessions`);
    expect(verify.code).toBe(0);

    await withDirectDb(data, async ({ sql }) => {
      const approvals = new Map(
        (await sql.query('SELECT request_id, call_id, status FROM approvals')).map((r) => [
          String(r.request_id),
          { call_id: String(r.call_id), status: String(r.status) },
        ]),
      );
      const outcomes = await sql.query(
        `SELECT session_id, call_id, status FROM tool_outcomes WHERE tool = 'transfer'`,
      );

      for (const driver of drivers) {
        const log = logs.get(driver.id)!;
        const results = log.filter((e) => e.type === 'tool_result');
        const resultCalls = new Set(results.map((e) => e.data.call_id as string));
        const unknownCalls = new Set(
          log
            .filter((e) => e.type === 'error' && e.data.code === 'tool_outcome_unknown')
            .map((e) => e.data.call_id as string),
        );

        // No acknowledged decision lost: stored as approved, and its call was carried out
        // (or, if the process died inside the tool, handed back to a human).
        for (const requestId of driver.acked) {
          const approval = approvals.get(requestId);
          expect(approval?.status, requestId).toBe('approved');
          const callId = approval!.call_id;
          expect(resultCalls.has(callId) || unknownCalls.has(callId), callId).toBe(true);
        }

        // One result per call: a restored session never runs (or reports) a call again.
        const perCall = new Map<string, number>();
        for (const e of results) perCall.set(e.data.call_id, (perCall.get(e.data.call_id) ?? 0) + 1);

        // No plan step ran twice: per execution, one succeeded transfer per amount.
        const calls = new Map(
          log
            .filter((e) => e.type === 'tool_call' && e.data.tool === 'transfer')
            .map((e) => [e.data.call_id as string, `${e.execution_id}/${e.data.args.amount}`]),
        );
        const succeeded = outcomes.filter(
          (r) => r.session_id === driver.id && r.status === 'succeeded',
        );
        const perStep = new Map<string, number>();
        for (const row of succeeded) {
          const step = calls.get(String(row.call_id)) ?? `no tool_call for ${String(row.call_id)}`;
          perStep.set(step, (perStep.get(step) ?? 0) + 1);
        }
        expect([...perStep].filter(([, n]) => n !== 1)).toEqual([]);
        const started = new Set(log.filter((e) => e.type === 'thinking').map((e) => e.execution_id));
        const ended = new Set(log.filter((e) => e.type === 'complete').map((e) => e.execution_id));
        const completes = log.filter((e) => e.type === 'complete').length;
        const resultsN = log.filter((e) => e.type === "tool_result").length;
        const resultCallsN = new Set(log.filter((e) => e.type === 'tool_result').map((e) => e.data.call_id)).size;
        if (started.size !== ended.size || completes !== ended.size || resultsN !== resultCallsN) console.log('STAT', driver.id, 'orphans', started.size - ended.size, 'dupComplete', completes - ended.size, 'dupResults', resultsN - resultCallsN);
        const completed = ended.size;
        if (perStep.size !== completed * TRANSFER_STEPS) console.log(driver.id, log.map((e) => `${e.seq}:${e.type}:${e.state}:${e.execution_id?.slice(-6)}:${e.data.call_id?.slice(-6) ?? ''}:${e.data.request_id?.slice(-6) ?? ''}`).join('\n'), [...perStep]);
        expect(perStep.size).toBe(completed * TRANSFER_STEPS);
      }
    });
  }, 120_000);
});
