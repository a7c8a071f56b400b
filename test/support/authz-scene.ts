import { randomUUID } from 'node:crypto';
import { createSession, http, signToken, type App } from './test-app.ts';
import { connect, type TestSocket, type WireEvent } from './ws-client.ts';

/** The three callers of the authorization matrix; only carol's token has the approver role. */
export const ROLES = ['owner', 'other', 'approver'] as const;
export type Role = (typeof ROLES)[number];
export const USERS: Record<Role, string> = { owner: 'alice', other: 'bob', approver: 'carol' };

export async function signUsers(): Promise<Record<Role, string>> {
  return {
    owner: await signToken(USERS.owner),
    other: await signToken(USERS.other),
    approver: await signToken(USERS.approver, { roles: ['approver'] }),
  };
}

/** A session, its owner's token, and a socket of the owner on it that has seen `connected`. */
export interface OwnedSession {
  owner: string;
  token: string;
  id: string;
  socket: TestSocket;
  /** The pending (or, once decided, the decided) approval request, when there is one. */
  requestId?: string;
  executionId?: string;
}

/**
 * `idle`: nothing ran yet; `pending`: a transfer waits for approval; `decided`: that transfer
 * was rejected by the owner and the execution completed; `four_eyes`: a transfer above 10,000
 * waits for two approvers, neither of them the owner who asked for it.
 */
export type SessionStage = 'idle' | 'pending' | 'decided' | 'four_eyes';

export async function openOwnedSession(
  app: App,
  owner: string,
  token: string,
  stage: SessionStage,
): Promise<OwnedSession> {
  const id = await createSession(app, token);
  const socket = await connect(app, { session_id: id, token });
  await socket.waitFor('connected');
  const session: OwnedSession = { owner, token, id, socket };
  if (stage === 'idle') return session;
  const amount = stage === 'four_eyes' ? 20_000 : 150;
  socket.send({ type: 'execute', command: `transfer ${amount} USD to bob` });
  const required = await socket.waitFor('approval_required');
  session.requestId = String(required.data.request_id);
  session.executionId = String(required.execution_id);
  if (stage === 'decided') {
    socket.send({ type: 'reject', request_id: session.requestId, reason: 'not today' });
    await socket.waitFor('complete');
  }
  return session;
}

/** Everything a refused request must leave as it was: what the owner can see of the session. */
export async function sessionFacts(app: App, session: OwnedSession) {
  const described = await http(app, 'GET', `/api/v1/sessions/${session.id}`, {
    token: session.token,
  });
  const log = await http<{ events: { seq: number; type: string; hash: string }[] }>(
    app,
    'GET',
    `/api/v1/sessions/${session.id}/events?limit=1000`,
    { token: session.token },
  );
  const approval = session.requestId ? await app.store.getApproval(session.requestId) : undefined;
  return {
    status: described.status,
    state: described.body.state as string,
    last_seq: described.body.last_seq as number,
    pending: (described.body.pending_approvals as { request_id: string }[]).map(
      (p) => p.request_id,
    ),
    events: log.body.events.map((e) => `${e.seq} ${e.type} ${e.hash}`),
    approval: approval ? { status: approval.status, decided_by: approval.decided_by } : null,
    transfers: app.ledger.transfers(),
  };
}

/**
 * A ping round trip on the socket, then the session events it got since index `from`: what the
 * socket was sent by whatever happened before the ping (replies to this socket left out).
 */
export async function eventsSince(socket: TestSocket, from: number): Promise<string[]> {
  const id = `settle-${randomUUID()}`;
  socket.send({ type: 'ping', id });
  await socket.waitFor((e) => e.type === 'pong' && e.data.id === id, { from });
  return socket.events
    .slice(from)
    .filter((e) => !isReplyTo(e))
    .map((e) => e.type);
}

/** `connected`, `pong` and an error answering one socket's message are that socket's alone. */
export function isReplyTo(event: WireEvent): boolean {
  return (
    event.type === 'connected' ||
    event.type === 'pong' ||
    (event.type === 'error' && !event.execution_id)
  );
}

/**
 * The answer to the message with client id `id` sent on `socket` after index `from`: the error
 * or pong that echoes the id, or else the first event of the session that follows.
 */
export function answerTo(socket: TestSocket, id: string, from: number): Promise<WireEvent> {
  return socket.waitFor((e) => (isReplyTo(e) ? e.data?.id === id : e.type !== 'message_delta'), {
    from,
  });
}

/** An id in the server's own format that nothing has: `ses_…`, `req_…`, `exec_…`. */
export function unknownId(prefix: 'ses' | 'req' | 'exec'): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

/** `value` with every id in `ids` replaced by its name, so two answers compare by shape. */
export function withoutIds(value: unknown, ids: Readonly<Record<string, string>>): unknown {
  let text = JSON.stringify(value);
  for (const [name, id] of Object.entries(ids)) {
    if (id) text = text.replaceAll(id, `<${name}>`);
  }
  return JSON.parse(text) as unknown;
}

/** A socket of the caller's that has seen `connected`, or its refused upgrade as `{ status, code, body }`. */
export async function openAs(
  app: App,
  sessionId: string,
  token: string,
): Promise<{ socket: TestSocket } | { refused: Record<string, unknown> }> {
  try {
    const socket = await connect(app, { session_id: sessionId, token });
    await socket.waitFor('connected');
    return { socket };
  } catch (error) {
    const { status, body } = error as { status?: number; body?: string };
    if (status === undefined) throw error;
    const parsed = JSON.parse(body ?? '{}') as { error?: { code?: string } };
    return { refused: { status, code: parsed.error?.code, body: parsed } };
  }
}

/** A refused upgrade as `{ status, code, body }`, or who the accepted one's `connected` names. */
export async function upgradeAnswer(
  app: App,
  sessionId: string,
  token: string,
): Promise<Record<string, unknown>> {
  const opened = await openAs(app, sessionId, token);
  if ('refused' in opened) return opened.refused;
  const connected = await opened.socket.waitFor('connected');
  await opened.socket.close();
  return { connected: connected.data.user_id, state: connected.data.state };
}

/** The sessions a cell runs against, built fresh for every cell. */
export interface Scene {
  /** The session the call acts on; a refusal must leave it as it was. */
  target?: OwnedSession;
  /** The caller's own session, waiting for an approval. */
  own?: OwnedSession;
  /** Approval requests by request id -> their session's owner (listings). */
  requests: Map<string, string>;
  /** Session ids of the scene -> their owner (listings). */
  sessions: Map<string, string>;
  close(): Promise<void>;
}

export type SceneKind = 'none' | SessionStage | 'listing' | 'foreign';

/**
 * `idle` / `pending` / `decided`: a session of alice's at that stage. `listing`: alice, bob and
 * carol each wait for an approval. `foreign`: the target is someone else's pending session
 * (bob's when alice calls, else alice's) and the caller has a pending session of their own.
 */
export async function buildScene(
  app: App,
  tokens: Record<Role, string>,
  kind: SceneKind,
  caller: Role,
): Promise<Scene> {
  const opened: OwnedSession[] = [];
  const open = async (role: Role, stage: SessionStage) => {
    const session = await openOwnedSession(app, USERS[role], tokens[role], stage);
    opened.push(session);
    return session;
  };
  const scene: Scene = {
    requests: new Map(),
    sessions: new Map(),
    close: async () => void (await Promise.all(opened.map((s) => s.socket.close()))),
  };
  if (kind === 'listing') {
    for (const role of ROLES) {
      const session = await open(role, 'pending');
      scene.requests.set(String(session.requestId), session.owner);
      scene.sessions.set(session.id, session.owner);
    }
  } else if (kind === 'foreign') {
    scene.target = await open(caller === 'owner' ? 'other' : 'owner', 'pending');
    scene.own = await open(caller, 'pending');
  } else if (kind !== 'none') {
    scene.target = await open('owner', kind);
  }
  return scene;
}
