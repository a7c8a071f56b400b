import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors.ts';
import { bearerToken } from './http.ts';
import type { ServerMetrics } from './metrics.ts';
import type { Route } from './router.ts';

export interface MetricsRouteDeps {
  metrics: ServerMetrics;
  authMode: 'dev' | 'jwt';
  /** With jwt auth, the bearer token a scrape must carry; unset: no /metrics route. */
  token: string | undefined;
}

/**
 * `GET /metrics`: open with dev auth; with jwt auth only for `Authorization: Bearer <token>`,
 * and absent (404) when no token is configured, since the core cannot tell loopback callers.
 */
export function metricsRoutes(deps: MetricsRouteDeps): Route[] {
  const { metrics, authMode, token } = deps;
  if (authMode === 'jwt' && token === undefined) return [];
  return [
    {
      method: 'GET',
      path: '/metrics',
      handler: async (request) => {
        if (authMode === 'jwt') checkToken(bearerToken(request.authorization), token ?? '');
        return {
          status: 200,
          headers: { 'content-type': metrics.contentType },
          body: await metrics.scrape(),
        };
      },
    },
  ];
}

function checkToken(given: string | undefined, expected: string): void {
  if (given === undefined) throw new AppError('token_missing', 'a bearer token is required', 401);
  // Digests have one length, so the comparison takes the same time whatever was sent.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  if (!timingSafeEqual(digest(given), digest(expected))) {
    throw new AppError('token_invalid', 'the token is not valid', 401);
  }
}
