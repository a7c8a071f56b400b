import { z } from 'zod';
import { canAccess, type Authenticator, type Principal } from '../auth/index.ts';
import { AppError } from '../errors.ts';
import { decodeValue } from '../protocol/codec.ts';
import type { SessionView, SessionService } from '../runtime/index.ts';
import type { ApprovalRecord } from '../store/store.ts';
import { bearerToken, jsonAnswer, parseJsonBody, type RequestInfo } from './http.ts';
import { parseQuery } from './query.ts';
import type { ClusterView } from './cluster-view.ts';
import type { Route } from './router.ts';
import type { UserLimiter } from './user-limits.ts';

export interface RestDeps {
  runtime: SessionService;
  auth: Authenticator;
  users: UserLimiter;
  isReady: () => Promise<boolean>;
  cluster?: ClusterView | undefined;
}

const eventsQuery = z.object({
  after_seq: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const approvalsQuery = z.object({
  status: z.enum(['pending', 'approved', 'rejected', 'edited', 'expired', 'cancelled']).optional(),
});
const DECISIONS = ['approve', 'reject', 'edit'] as const;

/** The REST routes, written once for every transport. */
export function restRoutes(deps: RestDeps): Route[] {
  const { runtime, auth, users } = deps;
  const who = (request: RequestInfo) => auth.authenticate(bearerToken(request.authorization));

  /** The session if the caller may see it; 404 for both "none" and "not yours". */
  async function visibleSession(id: string, principal: Principal): Promise<SessionView> {
    const session = await runtime.getSession(id);
    if (!session || !canAccess(principal, session.owner)) {
      throw new AppError('session_not_found', `no session ${id}`, 404);
    }
    return session;
  }

  const describe = (session: SessionView) => ({
    id: session.id,
    owner: session.owner,
    state: session.state(),
    last_seq: session.lastSeq(),
    pending_approvals: session.pendingApprovals(),
  });

  const routes: Route[] = [
    {
      method: 'POST',
      path: '/api/v1/sessions',
      handler: async (request, _params, body) => {
        const principal = await who(request);
        // No fields yet, but what comes must be a JSON object: a bad body is never ignored.
        const payload = parseJsonBody(await body());
        if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
          throw new AppError('invalid_message', 'the body must be a JSON object', 400);
        }
        users.createSession(principal.user_id, runtime.liveSessionsOf(principal.user_id));
        const session = await runtime.createSession(principal.user_id);
        return jsonAnswer(201, describe(session));
      },
    },
    {
      method: 'GET',
      path: '/api/v1/sessions/:id',
      handler: async (request, [id = '']) => {
        const session = await visibleSession(id, await who(request));
        return jsonAnswer(200, describe(session));
      },
    },
    {
      method: 'GET',
      path: '/api/v1/sessions/:id/events',
      handler: async (request, [id = '']) => {
        // The log and the session's row only: no actor is loaded (nor its owner asked).
        const principal = await who(request);
        const record = await runtime.store.getSession(id);
        if (!record || !canAccess(principal, record.owner)) {
          throw new AppError('session_not_found', `no session ${id}`, 404);
        }
        const query = parseQuery(eventsQuery, request.query);
        const events = await runtime.readEvents(id, query.after_seq, query.limit);
        return jsonAnswer(200, { session_id: id, events, last_seq: record.last_seq });
      },
    },
    {
      method: 'GET',
      path: '/api/v1/approvals',
      handler: async (request) => {
        const principal = await who(request);
        const query = parseQuery(approvalsQuery, request.query);
        const all = await runtime.listApprovals(query.status ? { status: query.status } : {});
        const visible = await filterVisible(all, principal);
        // Pending ones with their votes so far and whether the caller may vote, from the session.
        const approvals = await runtime.ballots(visible, principal);
        return jsonAnswer(200, { approvals });
      },
    },
    ...DECISIONS.map((decision): Route => ({
      method: 'POST',
      path: `/api/v1/approvals/:id/${decision}`,
      handler: async (request, [requestId = ''], body) => {
        const principal = await who(request);
        users.message(principal.user_id);
        const payload = parseJsonBody(await body());
        const fields = typeof payload === 'object' && payload !== null ? payload : {};
        const decoded = decodeValue({ ...fields, type: decision, request_id: requestId });
        if (!decoded.ok) throw new AppError(decoded.error.code, decoded.error.message, 400);
        const command = decoded.message;
        if (command.type === 'ping') throw new AppError('invalid_message', 'not a decision', 400);
        const approval = await runtime.getApproval(requestId);
        // One answer for "none" and "not yours", as for sessions: ids are not probeable.
        const owner = approval && (await runtime.getSessionOwner(approval.session_id));
        if (!approval || owner === undefined || !canAccess(principal, owner))
          throw new AppError('approval_not_found', `no approval request ${requestId}`, 404);
        await runtime.send(approval.session_id, command, principal.user_id, principal.roles);
        const after = await runtime.getApproval(requestId);
        const [answer] = after ? await runtime.ballots([after], principal) : [];
        return jsonAnswer(200, answer);
      },
    })),
    {
      method: 'GET',
      path: '/healthz',
      handler: () => Promise.resolve(jsonAnswer(200, { status: 'ok' })),
    },
    {
      method: 'GET',
      path: '/readyz',
      handler: async () =>
        (await deps.isReady())
          ? jsonAnswer(200, { status: 'ready', ...readiness() })
          : jsonAnswer(503, { status: 'not_ready', ...readiness() }),
    },
  ];

  function readiness() {
    const store = runtime.store.kind;
    return deps.cluster ? { store, cluster: deps.cluster.status() } : { store };
  }

  async function filterVisible(
    approvals: ApprovalRecord[],
    principal: Principal,
  ): Promise<ApprovalRecord[]> {
    if (principal.roles.includes('approver')) return approvals;
    const owners = new Map<string, string | undefined>();
    const out: ApprovalRecord[] = [];
    for (const approval of approvals) {
      if (!owners.has(approval.session_id)) {
        owners.set(
          approval.session_id,
          (await runtime.getSessionOwner(approval.session_id)) ?? undefined,
        );
      }
      if (owners.get(approval.session_id) === principal.user_id) out.push(approval);
    }
    return out;
  }

  return routes;
}
