import type { TemplatedApp } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import { canAccess, type Authenticator, type Principal } from '../auth/index.ts';
import { AppError } from '../errors.ts';
import { decodeValue } from '../protocol/codec.ts';
import type { SessionHost, SessionRuntime } from '../runtime/index.ts';
import type { ApprovalRecord } from '../store/store.ts';
import { bearerToken, jsonRoute, type RequestInfo } from './http.ts';

export interface RestDeps {
  runtime: SessionRuntime;
  auth: Authenticator;
  logger: Logger;
  isReady: () => Promise<boolean>;
}

const eventsQuery = z.object({
  after_seq: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const approvalsQuery = z.object({
  status: z.enum(['pending', 'approved', 'rejected', 'edited', 'expired', 'cancelled']).optional(),
});
const DECISIONS = ['approve', 'reject', 'edit'] as const;

export function registerRestRoutes(app: TemplatedApp, deps: RestDeps): void {
  const { runtime, auth, logger } = deps;
  const who = (request: RequestInfo) => auth.authenticate(bearerToken(request.authorization));

  /** The session if the caller may see it; 404 for both "none" and "not yours". */
  async function visibleSession(id: string, principal: Principal): Promise<SessionHost> {
    const session = await runtime.getSession(id);
    if (!session || !canAccess(principal, session.owner)) {
      throw new AppError('session_not_found', `no session ${id}`, 404);
    }
    return session;
  }

  const describe = (session: SessionHost) => ({
    id: session.id,
    owner: session.owner,
    state: session.state(),
    last_seq: session.lastSeq(),
    pending_approvals: session.pendingApprovals(),
  });

  app.post(
    '/api/v1/sessions',
    jsonRoute(logger, 0, async (request) => {
      const principal = await who(request);
      const session = await runtime.createSession(principal.user_id);
      return { status: 201, body: describe(session) };
    }),
  );

  app.get(
    '/api/v1/sessions/:id',
    jsonRoute(logger, 1, async (request) => {
      const session = await visibleSession(request.params[0] ?? '', await who(request));
      return { status: 200, body: describe(session) };
    }),
  );

  app.get(
    '/api/v1/sessions/:id/events',
    jsonRoute(logger, 1, async (request) => {
      const session = await visibleSession(request.params[0] ?? '', await who(request));
      const query = parse(eventsQuery, Object.fromEntries(request.query));
      const events = await runtime.readEvents(session.id, query.after_seq, query.limit);
      return { status: 200, body: { session_id: session.id, events, last_seq: session.lastSeq() } };
    }),
  );

  app.get(
    '/api/v1/approvals',
    jsonRoute(logger, 0, async (request) => {
      const principal = await who(request);
      const query = parse(approvalsQuery, Object.fromEntries(request.query));
      const all = await runtime.listApprovals(query.status ? { status: query.status } : {});
      const visible = await filterVisible(all, principal);
      return { status: 200, body: { approvals: visible } };
    }),
  );

  for (const decision of DECISIONS) {
    app.post(
      `/api/v1/approvals/:id/${decision}`,
      jsonRoute(
        logger,
        1,
        async (request, body) => {
          const principal = await who(request);
          const requestId = request.params[0] ?? '';
          const payload = await body();
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
          await runtime.send(approval.session_id, command, principal.user_id);
          const decided = await runtime.getApproval(requestId);
          return { status: 200, body: decided };
        },
        true,
      ),
    );
  }

  app.get(
    '/healthz',
    jsonRoute(logger, 0, () => Promise.resolve({ status: 200, body: { status: 'ok' } })),
  );
  app.get(
    '/readyz',
    jsonRoute(logger, 0, async () =>
      (await deps.isReady())
        ? { status: 200, body: { status: 'ready', store: runtime.store.kind } }
        : { status: 503, body: { status: 'not_ready', store: runtime.store.kind } },
    ),
  );

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
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new AppError(
    'invalid_query',
    `${issue?.path.join('.') ?? 'query'}: ${issue?.message ?? 'invalid'}`,
    400,
  );
}
