import { nextFrame, type Frame } from './fuzz-frames.ts';
import { createSession, finalFlow, probe } from './fuzz-flow.ts';
import { createRandom } from './fuzz-random.ts';
import { restCall } from './fuzz-rest.ts';
import { healthy } from './fuzz-server.ts';
import { runLane, type SessionState } from './fuzz-socket.ts';
import { createStats, describeFrame, type Stats } from './fuzz-stats.ts';

export interface FuzzOptions {
  readonly baseUrl: string;
  readonly frames: number;
  readonly seed: number;
  readonly sessions?: number;
  readonly socketsPerSession?: number;
  readonly window?: number;
  /** The server process has exited (child-process mode): its code, else undefined. */
  readonly exited?: () => string | undefined;
}

export interface FuzzResult {
  readonly stats: Stats;
  readonly seconds: number;
}

/** Sends `frames` fuzzed frames over a few sessions' sockets, with REST calls alongside. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const started = performance.now();
  const stats = createStats();
  const wsUrl = options.baseUrl.replace(/^http/, 'ws');
  const random = createRandom(options.seed);
  const sessions: SessionState[] = [];
  for (let i = 0; i < (options.sessions ?? 4); i++)
    sessions.push({ id: await createSession(options.baseUrl), pending: [] });
  let budget = options.frames;
  let counter = 0;
  const suspects: Frame[] = [];
  const take = (session: SessionState) => (): Frame | undefined => {
    if (budget-- <= 0) return undefined;
    const requestId =
      session.pending.length > 0 && random.chance(0.7)
        ? random.pick(session.pending)
        : 'req_unknown';
    return nextFrame(random, requestId, `f${++counter}`);
  };
  let running = true;
  const lanes = sessions.flatMap((session) =>
    Array.from({ length: options.socketsPerSession ?? 2 }, () =>
      runLane({
        wsUrl,
        session,
        stats,
        take: take(session),
        window: options.window ?? 64,
        suspects,
      }),
    ),
  );
  const requestIds = () => sessions.flatMap((s) => s.pending);
  const rest = Promise.all(
    Array.from({ length: 3 }, async (_, worker) => {
      const restRandom = createRandom(options.seed ^ (0x5eed + worker));
      while (running)
        await restCall({ baseUrl: options.baseUrl, stats, random: restRandom, requestIds });
    }),
  );
  const health = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, 1000));
      const exit = options.exited?.();
      if (exit !== undefined) {
        stats.findings.push({ kind: 'crash', detail: `server process exited (${exit})` });
        budget = 0;
        return;
      }
      if (!(await healthy(options.baseUrl)))
        stats.findings.push({
          kind: 'crash',
          detail: `/healthz did not answer 200 within 5 s at ${new Date().toISOString()}`,
        });
    }
  })();
  await Promise.all(lanes);
  running = false;
  await Promise.all([rest, health]);
  if (options.exited?.() === undefined) {
    for (const frame of suspects.slice(0, 300))
      if (await probe(options.baseUrl, wsUrl, frame))
        stats.findings.push({
          kind: 'internal_error',
          detail: 'reproduced alone on a fresh session',
          frame: describeFrame(frame.data, frame.binary),
        });
    if (!(await healthy(options.baseUrl)))
      stats.findings.push({ kind: 'crash', detail: '/healthz did not answer after the run' });
    const failure = await finalFlow(options.baseUrl, wsUrl).catch((error: unknown) =>
      String(error),
    );
    if (failure !== undefined) stats.findings.push({ kind: 'final_flow', detail: failure });
  } else stats.findings.push({ kind: 'final_flow', detail: 'not run: the server is gone' });
  return { stats, seconds: (performance.now() - started) / 1000 };
}
