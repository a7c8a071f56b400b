import { expect } from 'vitest';
import { createAuthenticator } from '../../src/auth/index.ts';
import { inboundTypes } from '../../src/protocol/inbound.ts';
import type { SessionRuntime } from '../../src/runtime/index.ts';
import type { ServerMetrics } from '../../src/server/metrics.ts';
import { inspectionRoutes } from '../../src/server/inspection-routes.ts';
import { metricsRoutes } from '../../src/server/metrics-route.ts';
import { restRoutes } from '../../src/server/rest-routes.ts';
import { createUserLimiter, DEFAULT_USER_LIMITS } from '../../src/server/user-limits.ts';
import { http, type App } from './test-app.ts';
import type { TestSocket } from './ws-client.ts';
import {
  answerTo,
  eventsSince,
  isReplyTo,
  openAs,
  sessionFacts,
  unknownId,
  withoutIds,
  type OwnedSession,
  type Scene,
} from './authz-scene.ts';

/** What a cell compares: a status or event and the few fields that say who did what. */
export type Answer = Record<string, unknown>;

/**
 * `allowed`: the answer is as given. `refused`: the answer is as given and the session is as it
 * was (state, stored log, approval, ledger, nothing sent to its owner's socket). `hidden`:
 * refused, with the very body that the same call with nonexistent ids gets (ids aside).
 */
export type Verdict = 'allowed' | 'refused' | 'hidden';

export interface Cell {
  verdict: Verdict;
  answer: Answer;
}

export const allowed = (answer: Answer): Cell => ({ verdict: 'allowed', answer });
export const refused = (answer: Answer): Cell => ({ verdict: 'refused', answer });
/** Told apart from nothing: the answer a nonexistent id gets (`status` for REST and upgrades). */
export const hidden = (code: string, status?: number): Cell => ({
  verdict: 'hidden',
  answer: status === undefined ? { code } : { status, code },
});

/**
 * Everything a client can call, as the matrix names it: `METHOD /path` for each route the server
 * declares (with a metrics token, so `/metrics` exists), `WS upgrade` and `WS <type>` for each
 * socket message. The route list is read from the routes themselves, so a new one needs a row.
 */
export function declaredRoutes(): string[] {
  const rest = restRoutes({
    runtime: {} as SessionRuntime,
    auth: createAuthenticator({ mode: 'dev' }),
    users: createUserLimiter(DEFAULT_USER_LIMITS),
    isReady: () => Promise.resolve(true),
  });
  const metrics = metricsRoutes({ metrics: {} as ServerMetrics, authMode: 'jwt', token: 'x' });
  const inspection = inspectionRoutes({
    runtime: {} as SessionRuntime,
    auth: createAuthenticator({ mode: 'dev' }),
  });
  return [
    ...[...rest, ...metrics, ...inspection].map((route) => `${route.method} ${route.path}`),
    'WS upgrade',
    ...inboundTypes.map((type) => `WS ${type}`),
  ];
}

/** The ids a call uses: the target's, or nonexistent ones in the same format. */
export type Ids = {
  session: string;
  request: string;
  execution: string;
};

export interface Probe {
  app: App;
  user: string;
  token: string;
  scene: Scene;
  ids: Ids;
}

function idsOf(scene: Scene): Ids {
  const { target } = scene;
  return {
    session: target?.id ?? '',
    request: target?.requestId ?? '',
    execution: target?.executionId ?? '',
  };
}

/** One REST call as `{ status, ...pick(body) }`, or `{ status, code, body }` when refused. */
export async function rest(
  p: Probe,
  method: string,
  path: string,
  options: { body?: unknown; pick?: (body: any) => Answer } = {},
): Promise<Answer> {
  const { status, body } = await http(p.app, method, path, {
    token: p.token,
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  if (status >= 300) return { status, code: body?.error?.code, body };
  return { status, ...options.pick?.(body) };
}

/**
 * A socket message sent as the caller, on the owner's socket when the caller owns the session
 * and on a new socket of the caller's otherwise: `{ status, code, body }` for a refused upgrade,
 * `{ code, body }` for an error answering it, `{ event: 'pong' }`, or the session event it
 * caused, who it names, and whether the owner's socket got it too.
 */
export async function socketCommand(
  p: Probe,
  message: Record<string, unknown>,
  session: OwnedSession | undefined = p.scene.target,
): Promise<Answer> {
  if (!session) throw new Error('the row has no session to send to');
  let socket: TestSocket = session.socket;
  const opened = session.owner !== p.user;
  if (opened) {
    const attempt = await openAs(p.app, p.ids.session, p.token);
    if ('refused' in attempt) return attempt.refused;
    socket = attempt.socket;
  }
  const from = socket.events.length;
  const ownerFrom = session.socket.events.length;
  socket.send({ ...message, id: 'probe' });
  const event = await answerTo(socket, 'probe', from);
  let answer: Answer;
  if (event.type === 'pong') answer = { event: 'pong' };
  else if (event.type === 'error' && !event.execution_id)
    answer = { code: event.data.code, body: event.data };
  else {
    const same = await session.socket.waitFor((e) => !isReplyTo(e) && e.seq === event.seq, {
      from: ownerFrom,
    });
    const by = event.data.decided_by ?? event.data.cancelled_by;
    answer = { event: event.type, ...(by ? { by } : {}), owner_saw: same.type };
  }
  if (opened) await socket.close();
  return answer;
}

/**
 * Runs one cell: `call` as the caller in a fresh scene, checked against the cell in one
 * assertion whose message names the route and the user.
 */
export async function checkCell(
  label: string,
  cell: Cell,
  scene: Scene,
  call: (ids: Ids) => Promise<Answer>,
  app: App,
): Promise<void> {
  try {
    const real = idsOf(scene);
    const watched = cell.verdict === 'allowed' ? undefined : scene.target;
    const before = watched && (await sessionFacts(app, watched));
    const mark = watched?.socket.events.length ?? 0;
    const { body, ...answer } = await call(real);
    if (cell.verdict === 'allowed') {
      expect(answer, label).toEqual(cell.answer);
      return;
    }
    let actual: Answer = answer;
    let expected: Answer = cell.answer;
    if (cell.verdict === 'hidden') {
      const unknown: Ids = {
        session: unknownId('ses'),
        request: unknownId('req'),
        execution: unknownId('exec'),
      };
      const nothing = await call(unknown);
      actual = { ...answer, body: withoutIds(body, real) };
      expected = { ...cell.answer, body: withoutIds(nothing['body'], unknown) };
    }
    const after = watched && {
      ...(await sessionFacts(app, watched)),
      owner_saw: await eventsSince(watched.socket, mark),
    };
    expect(
      { answer: actual, session: after },
      `${label}: the answer, and the session left as it was`,
    ).toEqual({ answer: expected, session: before && { ...before, owner_saw: [] } });
  } catch (error) {
    if (error instanceof Error && !error.message.startsWith(label)) {
      error.message = `${label}: ${error.message}`;
    }
    throw error;
  } finally {
    await scene.close();
  }
}
