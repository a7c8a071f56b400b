import { beforeAll, describe, expect, it } from 'vitest';
import {
  allowed,
  checkCell,
  declaredRoutes,
  hidden,
  refused,
  rest,
  socketCommand,
  type Answer,
  type Cell,
  type Probe,
} from '../support/authz-probe.ts';
import {
  buildScene,
  ROLES,
  signUsers,
  upgradeAnswer,
  USERS,
  type Role,
  type SceneKind,
} from '../support/authz-scene.ts';
import { testTargets } from '../support/targets.ts';
import { useTestApp } from './harness.ts';

/**
 * Who may see, decide and run what (docs/operations.md, "Tokens"; docs/protocol.md): the owner
 * everything on their own session; an approver may see any session and decide its approvals,
 * but starting or cancelling an execution stays the owner's; anyone else gets what a
 * nonexistent id gets. One row per route and socket message, one cell per user.
 */

interface Row {
  /** `METHOD /path` as the server declares it, or `WS upgrade` / `WS <message type>`. */
  route: string;
  variant?: string;
  scene: SceneKind;
  cells: Record<Role, Cell>;
  call(p: Probe): Promise<Answer>;
}

const each = (cell: Cell): Record<Role, Cell> => ({ owner: cell, other: cell, approver: cell });
const EDITED = { to: 'bob', amount: 120, currency: 'USD' };
const DECISIONS = {
  approve: { body: undefined, record: 'approved', event: 'approved' },
  reject: { body: { reason: 'no' }, record: 'rejected', event: 'rejected' },
  edit: { body: { edited_args: EDITED }, record: 'edited', event: 'edit_approved' },
} as const;
type Decision = keyof typeof DECISIONS;
const DECISION_EVENTS = new Set<string>(Object.values(DECISIONS).map((d) => d.event));

/** A REST decision; when it is taken, the event the owner's socket got for it. */
async function decideOverRest(p: Probe, decision: Decision, body?: unknown): Promise<Answer> {
  const owner = p.scene.target?.socket;
  const from = owner?.events.length ?? 0;
  const answer = await rest(p, 'POST', `/api/v1/approvals/${p.ids.request}/${decision}`, {
    body: body ?? DECISIONS[decision].body,
    pick: (b: { status: string; decided_by: string }) => ({ decided: b.status, by: b.decided_by }),
  });
  if (answer['status'] !== 200 || !owner) return answer;
  const event = await owner.waitFor((e) => DECISION_EVENTS.has(e.type), { from });
  return { ...answer, owner_saw: event.type };
}

const restDecision = (decision: Decision): Row => {
  const { record, event } = DECISIONS[decision];
  const taken = (by: string) => allowed({ status: 200, decided: record, by, owner_saw: event });
  return {
    route: `POST /api/v1/approvals/:id/${decision}`,
    scene: 'pending',
    cells: {
      owner: taken('alice'),
      other: hidden('approval_not_found', 404),
      approver: taken('carol'),
    },
    call: (p) => decideOverRest(p, decision),
  };
};

const socketDecision = (decision: Decision): Row => {
  const { event } = DECISIONS[decision];
  const taken = (by: string) => allowed({ event, by, owner_saw: event });
  return {
    route: `WS ${decision}`,
    scene: 'pending',
    cells: {
      owner: taken('alice'),
      other: hidden('session_not_found', 404),
      approver: taken('carol'),
    },
    call: (p) =>
      socketCommand(p, { type: decision, request_id: p.ids.request, ...DECISIONS[decision].body }),
  };
};

/** Another session's request id, sent on a socket of the caller's own session. */
const foreignDecision = (decision: Decision): Row => ({
  route: `WS ${decision}`,
  variant: "another session's request, on one's own session",
  scene: 'foreign',
  cells: each(hidden('approval_not_found')),
  call: (p) =>
    socketCommand(
      p,
      { type: decision, request_id: p.ids.request, ...DECISIONS[decision].body },
      p.scene.own,
    ),
});

const listing = (query: string): Row => ({
  route: 'GET /api/v1/approvals',
  variant: query || 'no filter',
  scene: 'listing',
  cells: {
    owner: allowed({ status: 200, visible: ['alice'] }),
    other: allowed({ status: 200, visible: ['bob'] }),
    approver: allowed({ status: 200, visible: ['alice', 'bob', 'carol'] }),
  },
  call: (p) =>
    rest(p, 'GET', `/api/v1/approvals${query}`, {
      pick: (b: { approvals: { request_id: string }[] }) => ({
        visible: b.approvals.flatMap((a) => p.scene.requests.get(a.request_id) ?? []).sort(),
      }),
    }),
});

/** A vote on a four-eyes request: the owner asked for it; an approver's vote counts, once. */
const fourEyesVote = (over: 'REST' | 'WS'): Row => ({
  route: over === 'REST' ? 'POST /api/v1/approvals/:id/approve' : 'WS approve',
  variant: 'a four-eyes request (two approvers, not the requester)',
  scene: 'four_eyes',
  cells: {
    owner: refused(
      over === 'REST'
        ? { status: 403, code: 'approver_not_allowed' }
        : { code: 'approver_not_allowed' },
    ),
    other: hidden(over === 'REST' ? 'approval_not_found' : 'session_not_found', 404),
    approver: allowed(
      over === 'REST'
        ? { status: 200, decided: 'pending', by: null }
        : { event: 'approval_vote', by: 'carol', owner_saw: 'approval_vote' },
    ),
  },
  call: (p) =>
    over === 'REST'
      ? rest(p, 'POST', `/api/v1/approvals/${p.ids.request}/approve`, {
          pick: (b: { status: string; decided_by: string | null }) => ({
            decided: b.status,
            by: b.decided_by,
          }),
        })
      : socketCommand(p, { type: 'approve', request_id: p.ids.request }),
});

const ROWS: Row[] = [
  {
    route: 'POST /api/v1/sessions',
    scene: 'none',
    cells: {
      owner: allowed({ status: 201, owner: 'alice', state: 'idle' }),
      other: allowed({ status: 201, owner: 'bob', state: 'idle' }),
      approver: allowed({ status: 201, owner: 'carol', state: 'idle' }),
    },
    call: (p) =>
      rest(p, 'POST', '/api/v1/sessions', {
        pick: (b: Answer) => ({ owner: b['owner'], state: b['state'] }),
      }),
  },
  {
    // Newest first: the scene's three sessions are on the first page.
    route: 'GET /api/v1/sessions',
    scene: 'listing',
    cells: {
      owner: allowed({ status: 200, visible: ['alice'] }),
      other: allowed({ status: 200, visible: ['bob'] }),
      approver: allowed({ status: 200, visible: ['alice', 'bob', 'carol'] }),
    },
    call: (p) =>
      rest(p, 'GET', '/api/v1/sessions?limit=200', {
        pick: (b: { sessions: { id: string }[] }) => ({
          visible: b.sessions.flatMap((s) => p.scene.sessions.get(s.id) ?? []).sort(),
        }),
      }),
  },
  {
    route: 'GET /api/v1/sessions/:id/verify',
    scene: 'pending',
    cells: {
      owner: allowed({ status: 200, ok: true, through: 2 }),
      other: hidden('session_not_found', 404),
      approver: allowed({ status: 200, ok: true, through: 2 }),
    },
    call: (p) =>
      rest(p, 'GET', `/api/v1/sessions/${p.ids.session}/verify`, {
        pick: (b: { ok: boolean; verified_through_seq: number }) => ({
          ok: b.ok,
          through: b.verified_through_seq,
        }),
      }),
  },
  {
    route: 'GET /api/v1/tools',
    scene: 'none',
    cells: each(allowed({ status: 200, has_transfer: true })),
    call: (p) =>
      rest(p, 'GET', '/api/v1/tools', {
        pick: (b: { tools: { name: string }[] }) => ({
          has_transfer: b.tools.some((t) => t.name === 'transfer'),
        }),
      }),
  },
  {
    route: 'GET /api/v1/statechart',
    scene: 'none',
    cells: each(allowed({ status: 200 })),
    call: (p) => rest(p, 'GET', '/api/v1/statechart'),
  },
  {
    route: 'GET /api/v1/me',
    scene: 'none',
    cells: {
      owner: allowed({ status: 200, user: 'alice' }),
      other: allowed({ status: 200, user: 'bob' }),
      approver: allowed({ status: 200, user: 'carol' }),
    },
    call: (p) =>
      rest(p, 'GET', '/api/v1/me', { pick: (b: { user_id: string }) => ({ user: b.user_id }) }),
  },
  {
    route: 'GET /api/v1/sessions/:id',
    scene: 'pending',
    cells: {
      owner: allowed({ status: 200, owner: 'alice', state: 'awaiting_approval', pending: 1 }),
      other: hidden('session_not_found', 404),
      approver: allowed({ status: 200, owner: 'alice', state: 'awaiting_approval', pending: 1 }),
    },
    call: (p) =>
      rest(p, 'GET', `/api/v1/sessions/${p.ids.session}`, {
        pick: (b: { owner: string; state: string; pending_approvals: unknown[] }) => ({
          owner: b.owner,
          state: b.state,
          pending: b.pending_approvals.length,
        }),
      }),
  },
  {
    route: 'GET /api/v1/sessions/:id/events',
    scene: 'pending',
    cells: {
      owner: allowed({ status: 200, types: ['thinking', 'approval_required'] }),
      other: hidden('session_not_found', 404),
      approver: allowed({ status: 200, types: ['thinking', 'approval_required'] }),
    },
    call: (p) =>
      rest(p, 'GET', `/api/v1/sessions/${p.ids.session}/events`, {
        pick: (b: { events: { type: string }[] }) => ({ types: b.events.map((e) => e.type) }),
      }),
  },
  {
    route: 'GET /api/v1/sessions/:id/events',
    variant: 'a bad query: 404 comes before 400',
    scene: 'pending',
    cells: {
      owner: refused({ status: 400, code: 'invalid_query' }),
      other: hidden('session_not_found', 404),
      approver: refused({ status: 400, code: 'invalid_query' }),
    },
    call: (p) => rest(p, 'GET', `/api/v1/sessions/${p.ids.session}/events?limit=0`),
  },
  listing(''),
  listing('?status=pending'),
  restDecision('approve'),
  restDecision('reject'),
  restDecision('edit'),
  {
    route: 'POST /api/v1/approvals/:id/approve',
    variant: 'already decided: 404 comes before 409',
    scene: 'decided',
    cells: {
      owner: refused({ status: 409, code: 'approval_already_decided' }),
      other: hidden('approval_not_found', 404),
      approver: refused({ status: 409, code: 'approval_already_decided' }),
    },
    call: (p) => decideOverRest(p, 'approve'),
  },
  {
    route: 'POST /api/v1/approvals/:id/edit',
    variant: 'args the tool refuses: 404 comes before 400',
    scene: 'pending',
    cells: {
      owner: refused({ status: 400, code: 'invalid_tool_args' }),
      other: hidden('approval_not_found', 404),
      approver: refused({ status: 400, code: 'invalid_tool_args' }),
    },
    call: (p) => decideOverRest(p, 'edit', { edited_args: { ...EDITED, amount: 'lots' } }),
  },
  {
    route: 'GET /healthz',
    scene: 'none',
    cells: each(allowed({ status: 200 })),
    call: (p) => rest(p, 'GET', '/healthz'),
  },
  {
    route: 'GET /readyz',
    scene: 'none',
    cells: each(allowed({ status: 200 })),
    call: (p) => rest(p, 'GET', '/readyz'),
  },
  {
    // A user's JWT, an approver's included, is not the metrics token.
    route: 'GET /metrics',
    scene: 'none',
    cells: each(refused({ status: 401, code: 'token_invalid' })),
    call: (p) => rest(p, 'GET', '/metrics'),
  },
  {
    route: 'WS upgrade',
    scene: 'pending',
    cells: {
      owner: allowed({ connected: 'alice', state: 'awaiting_approval' }),
      other: hidden('session_not_found', 404),
      approver: allowed({ connected: 'carol', state: 'awaiting_approval' }),
    },
    call: (p) => upgradeAnswer(p.app, p.ids.session, p.token),
  },
  {
    route: 'WS execute',
    scene: 'idle',
    cells: {
      owner: allowed({ event: 'thinking', owner_saw: 'thinking' }),
      other: hidden('session_not_found', 404),
      approver: refused({ code: 'not_session_owner' }),
    },
    call: (p) => socketCommand(p, { type: 'execute', command: 'echo authz' }),
  },
  socketDecision('approve'),
  socketDecision('reject'),
  socketDecision('edit'),
  fourEyesVote('REST'),
  fourEyesVote('WS'),
  {
    route: 'WS cancel',
    scene: 'pending',
    cells: {
      owner: allowed({ event: 'cancelled', by: 'alice', owner_saw: 'cancelled' }),
      other: hidden('session_not_found', 404),
      approver: refused({ code: 'not_session_owner' }),
    },
    call: (p) => socketCommand(p, { type: 'cancel' }),
  },
  {
    route: 'WS ping',
    scene: 'idle',
    cells: {
      owner: allowed({ event: 'pong' }),
      other: hidden('session_not_found', 404),
      approver: allowed({ event: 'pong' }),
    },
    call: (p) => socketCommand(p, { type: 'ping' }),
  },
  foreignDecision('approve'),
  foreignDecision('reject'),
  foreignDecision('edit'),
  {
    route: 'WS cancel',
    variant: "another session's execution_id, on one's own session",
    scene: 'foreign',
    cells: each(hidden('not_allowed_in_state')),
    call: (p) => socketCommand(p, { type: 'cancel', execution_id: p.ids.execution }, p.scene.own),
  },
];

const METRICS_TOKEN = 'metrics-token-for-the-authz-matrix';

it(`has a row for every route and socket message (${ROWS.length} rows × ${ROLES.length} users)`, () => {
  const covered = new Set(ROWS.map((row) => row.route));
  expect(declaredRoutes().filter((route) => !covered.has(route))).toEqual([]);
  for (const row of ROWS) {
    expect(Object.keys(row.cells).sort(), row.route).toEqual([...ROLES].sort());
  }
});

describe.each(testTargets())('authorization matrix (AUTH_MODE=jwt) on $name', (target) => {
  const h = useTestApp(target, { env: { METRICS_TOKEN } });
  let tokens: Record<Role, string>;
  beforeAll(async () => {
    tokens = await signUsers();
  });

  for (const row of ROWS) {
    const route = row.variant ? `${row.route} (${row.variant})` : row.route;
    describe(route, () => {
      it.each(ROLES.map((role) => [USERS[role], role] as const))(
        'as %s (%s)',
        async (user, role) => {
          const scene = await buildScene(h.app, tokens, row.scene, role);
          await checkCell(
            `${route} as ${user} (${role})`,
            row.cells[role],
            scene,
            (ids) => row.call({ app: h.app, user, token: tokens[role], scene, ids }),
            h.app,
          );
        },
      );
    });
  }
});
