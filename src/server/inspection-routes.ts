import { z } from 'zod';
import { sessionStates } from '../../machines/session.types.ts';
import { APPROVER_ROLE, canAccess } from '../auth/index.ts';
import { AppError } from '../errors.ts';
import type { SessionCursor } from '../store/store.ts';
import { bearerToken, jsonAnswer, type RequestInfo } from './http.ts';
import { parseQuery } from './query.ts';
import type { RestDeps } from './rest-routes.ts';
import type { Route } from './router.ts';

const listQuery = z.strictObject({
  state: z.enum(sessionStates).optional(),
  pending: z.enum(['true', 'false']).optional(),
  cursor: z.string().max(512).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/**
 * Read-only routes for whoever inspects sessions (the inspector page, dashboards): the paged
 * session list, the audit chain's verification, the tools' schemas, the statechart, and who
 * the caller is. Same auth as every route; a session the caller may not see is never listed.
 */
export function inspectionRoutes(deps: Pick<RestDeps, 'runtime' | 'auth'>): Route[] {
  const { runtime, auth } = deps;
  const who = (request: RequestInfo) => auth.authenticate(bearerToken(request.authorization));

  return [
    {
      method: 'GET',
      path: '/api/v1/sessions',
      handler: async (request) => {
        const principal = await who(request);
        const query = parseQuery(listQuery, request.query);
        const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
        const page = await runtime.listSessions({
          limit: query.limit,
          ...(principal.roles.includes(APPROVER_ROLE) ? {} : { owner: principal.user_id }),
          ...(query.state ? { state: query.state } : {}),
          ...(query.pending ? { pending: query.pending === 'true' } : {}),
          ...(after ? { after } : {}),
        });
        return jsonAnswer(200, {
          sessions: page.sessions,
          next_cursor: page.next && encodeCursor(page.next),
        });
      },
    },
    {
      method: 'GET',
      path: '/api/v1/sessions/:id/verify',
      handler: async (request, [id = '']) => {
        const principal = await who(request);
        const owner = await runtime.getSessionOwner(id);
        if (owner === undefined || !canAccess(principal, owner)) {
          throw new AppError('session_not_found', `no session ${id}`, 404);
        }
        const result = await runtime.verifyChain(id);
        return jsonAnswer(
          200,
          result.ok
            ? { session_id: id, ok: true, verified_through_seq: result.events }
            : {
                session_id: id,
                ok: false,
                verified_through_seq: result.broken_seq - 1,
                broken_seq: result.broken_seq,
                problem: result.problem,
              },
        );
      },
    },
    {
      method: 'GET',
      path: '/api/v1/tools',
      handler: async (request) => {
        await who(request);
        return jsonAnswer(200, { tools: runtime.tools() });
      },
    },
    {
      method: 'GET',
      path: '/api/v1/statechart',
      handler: async (request) => {
        await who(request);
        return jsonAnswer(200, runtime.statechart());
      },
    },
    {
      method: 'GET',
      path: '/api/v1/me',
      handler: async (request) => {
        const principal = await who(request);
        return jsonAnswer(200, {
          user_id: principal.user_id,
          roles: principal.roles,
          auth_mode: auth.mode,
        });
      },
    },
  ];
}

/** The cursor is opaque to clients: base64url of `[created_at, id]`. */
function encodeCursor(cursor: SessionCursor): string {
  return Buffer.from(JSON.stringify([cursor.created_at, cursor.id])).toString('base64url');
}

/** A timestamp as PostgreSQL prints it (`2026-01-02 03:04:05.123456+00`) or ISO 8601. */
const TIMESTAMP = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d(:?\d\d)?)$/;
const cursorShape = z.tuple([z.string().regex(TIMESTAMP), z.string().min(1).max(200)]);

function decodeCursor(text: string): SessionCursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  const parsed = cursorShape.safeParse(value);
  if (!parsed.success) {
    throw new AppError('invalid_cursor', 'cursor: not a cursor this server handed out', 400);
  }
  return { created_at: parsed.data[0], id: parsed.data[1] };
}
