/**
 * A load-generating process, forked by bench/run.ts. It drives sessions with the client SDK
 * and reports timings over IPC; it never measures the server itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectSession, type SessionClient } from '../src/client/index.ts';
import type { WorkerCommand, WorkerReply } from './messages.ts';
import { createSessions, transferPlan } from './bench-sessions.ts';
import { pool } from './pool.ts';

const CALL_TIMEOUT_MS = 120_000;

let clients: SessionClient[] = [];
let flowState: { events: number } = { events: 0 };
/** Sessions made for earlier runs, by server URLs: later runs connect to them again. */
const made = new Map<string, string[]>();

function reply(message: WorkerReply): void {
  process.send?.(message);
}

/** A client per session, the i-th on `urlOf(i)`. */
async function connectAll(urlOf: (i: number) => string, sessionIds: string[], concurrency: number) {
  const connectMs: number[] = [];
  clients = await pool(sessionIds.length, concurrency, async (i) => {
    const started = performance.now();
    const client = await connectSession({
      url: urlOf(i),
      sessionId: sessionIds[i]!,
      timeoutMs: CALL_TIMEOUT_MS,
      connectTimeoutMs: 60_000,
      reconnect: false,
    });
    connectMs.push(performance.now() - started);
    return client;
  });
  return connectMs;
}

/**
 * One session's flows until the deadline, alternating direction so no account runs dry.
 * With a think time, it starts at a random moment and pauses that long between flows.
 */
async function drive(
  client: SessionClient,
  deadline: number,
  thinkMs: number,
  out: Extract<WorkerReply, { kind: 'flows-done' }>,
) {
  let outbound = true;
  const pause = (ms: number) => sleep(Math.max(0, Math.min(ms, deadline - Date.now())));
  if (thinkMs > 0) await pause(Math.random() * thinkMs);
  while (Date.now() < deadline) {
    const since = client.lastSeq;
    const required = client.waitFor('approval_required', undefined, { since });
    const complete = client.waitFor('complete', undefined, { since });
    const t0 = performance.now();
    await client.execute('pay', transferPlan(outbound));
    out.executeToFirst.push(performance.now() - t0);
    const request = await required;
    const t2 = performance.now();
    await client.approve(request.data.request_id);
    await complete;
    out.approveToComplete.push(performance.now() - t2);
    out.flows += 1;
    outbound = !outbound;
    if (thinkMs > 0) await pause(thinkMs);
  }
}

async function runFlows(deadline: number, thinkMs: number): Promise<WorkerReply> {
  const out: Extract<WorkerReply, { kind: 'flows-done' }> = {
    kind: 'flows-done',
    flows: 0,
    events: 0,
    failures: 0,
    firstError: null,
    executeToFirst: [],
    approveToComplete: [],
    elapsedMs: 0,
    clientCpuMs: 0,
  };
  flowState.events = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    clients.map((client) =>
      drive(client, deadline, thinkMs, out).catch((error: unknown) => {
        out.failures += 1;
        out.firstError ??= error instanceof Error ? error.message : String(error);
      }),
    ),
  );
  out.elapsedMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  out.clientCpuMs = (used.user + used.system) / 1000;
  out.events = flowState.events;
  return out;
}

async function runPing(command: Extract<WorkerCommand, { kind: 'ping' }>): Promise<WorkerReply> {
  const client = await connectSession({ url: command.url, sessionId: command.sessionId });
  const rttMs: number[] = [];
  const deadline = Date.now() + command.durationMs;
  const started = performance.now();
  let pings = 0;
  const lane = async () => {
    while (Date.now() < deadline) {
      const t0 = performance.now();
      await client.ping();
      rttMs.push(performance.now() - t0);
      pings += 1;
    }
  };
  await Promise.all(Array.from({ length: command.window }, lane));
  const elapsedMs = performance.now() - started;
  await client.close();
  return { kind: 'ping-done', pings, elapsedMs, rttMs };
}

async function handle(command: WorkerCommand): Promise<WorkerReply> {
  switch (command.kind) {
    case 'flows-setup': {
      const { urls, connectOffset, connectConcurrency } = command;
      const key = urls.join(' ');
      const known = made.get(key) ?? [];
      const first = known.length;
      const missing = Math.max(0, command.sessions - first);
      const createdOn = (i: number) => urls[(first + i) % urls.length]!;
      known.push(...(await createSessions(createdOn, missing, connectConcurrency)));
      made.set(key, known);
      const ids = known.slice(0, command.sessions);
      const connectedOn = (k: number) => urls[(k + connectOffset) % urls.length]!;
      const connectMs = await connectAll(connectedOn, ids, connectConcurrency);
      flowState = { events: 0 };
      for (const client of clients) {
        client.onAny((event) => {
          if (event.type !== 'connected' && event.type !== 'pong') flowState.events += 1;
        });
      }
      return { kind: 'ready', connectMs };
    }
    case 'flows-go':
      return runFlows(command.deadline, command.thinkMs);
    case 'idle-connect':
      return {
        kind: 'ready',
        connectMs: await connectAll(
          () => command.url,
          command.sessionIds,
          command.connectConcurrency,
        ),
      };
    case 'release':
      await Promise.all(clients.map((client) => client.close()));
      clients = [];
      return { kind: 'released' };
    case 'ping':
      return runPing(command);
  }
}

process.on('message', (command: WorkerCommand) => {
  handle(command).then(reply, (error: unknown) =>
    reply({ kind: 'failed', message: error instanceof Error ? error.message : String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
