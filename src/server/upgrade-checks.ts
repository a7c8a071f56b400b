import { canAccess, type Authenticator } from '../auth/index.ts';
import { AppError } from '../errors.ts';
import type { Logger } from 'pino';
import type { SessionService } from '../runtime/index.ts';
import type { SocketLimits, SocketState } from './connection.ts';
import { bearerToken } from './http.ts';
import type { UpgradeRequest } from './socket-hub.ts';
import type { UserLimiter } from './user-limits.ts';

export interface UpgradeCheckDeps {
  runtime: SessionService;
  auth: Authenticator;
  logger: Logger;
  limits: Pick<SocketLimits, 'maxConnections'>;
  users: UserLimiter;
  /** Sockets open now. */
  openSockets(): number;
}

/**
 * What an upgrade must pass before a socket opens; resolves with the new socket's state or
 * rejects with the refusal (an AppError with its HTTP status).
 */
export function createUpgradeChecks(deps: UpgradeCheckDeps) {
  const { runtime, auth, logger, limits, users } = deps;
  /** Upgrades between their checks and their open: they count against the limits too. */
  let pendingUpgrades = 0;
  const upgrading = new Map<string, number>();
  let nextId = 1;

  /** The upgrade checks, in order: capacity, query, token, the user's sockets, the session. */
  return async function checkUpgrade(request: UpgradeRequest): Promise<SocketState> {
    if (deps.openSockets() + pendingUpgrades >= limits.maxConnections) {
      throw new AppError('too_many_connections', 'the server is at its connection limit', 429);
    }
    const { query } = request;
    const sessionId = query.get('session_id');
    if (!sessionId) {
      throw new AppError('session_id_required', 'the session_id query parameter is required', 400);
    }
    let afterSeq: number | null = null;
    const lastSeq = query.get('last_seq');
    if (lastSeq !== null) {
      afterSeq = Number(lastSeq);
      if (!Number.isInteger(afterSeq) || afterSeq < 0) {
        throw new AppError('invalid_last_seq', 'last_seq must be a whole number >= 0', 400);
      }
    }
    const token = bearerToken(request.authorization) ?? query.get('token') ?? undefined;
    pendingUpgrades += 1;
    let user: string | null = null;
    try {
      const principal = await auth.authenticate(token);
      user = principal.user_id;
      const pending = upgrading.get(user) ?? 0;
      users.openSocket(user, pending);
      upgrading.set(user, pending + 1);
      const session = await runtime.getSession(sessionId);
      if (!session || !canAccess(principal, session.owner)) {
        throw new AppError('session_not_found', `no session ${sessionId}`, 404);
      }
      const id = nextId++;
      return {
        id,
        principal,
        session,
        afterSeq,
        log: logger.child({ connId: id, sessionId: session.id, userId: principal.user_id }),
        closed: false,
        live: false,
        ready: false,
        early: [],
        unsubscribe: null,
        refused: 0,
        refusedSince: 0,
        expiry: null,
        release: null,
      };
    } finally {
      pendingUpgrades -= 1;
      if (user !== null) {
        const left = (upgrading.get(user) ?? 1) - 1;
        if (left > 0) upgrading.set(user, left);
        else upgrading.delete(user);
      }
    }
  };
}
