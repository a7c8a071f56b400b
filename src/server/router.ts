import type { Logger } from 'pino';
import { AppError, toWireError } from '../errors.ts';
import { errorAnswer, type BodyReader, type HttpAnswer, type RequestInfo } from './http.ts';
import type { ServerMeter } from './metrics.ts';

/** What a route's handler gets: the request, its `:params` in order, and its body on demand. */
export type RouteHandler = (
  request: RequestInfo,
  params: string[],
  body: BodyReader,
) => Promise<HttpAnswer>;

export interface Route {
  method: 'GET' | 'POST';
  /** Segments; `:name` matches one non-empty segment. */
  path: string;
  handler: RouteHandler;
}

export type HttpHandler = (request: RequestInfo, readBody: BodyReader) => Promise<HttpAnswer>;

/**
 * Every HTTP request of every transport comes through here: matched against the routes
 * (a known path with another method is 405, anything else 404), and every throw answered in
 * JSON (AppError -> its status and code, anything else -> a logged 500).
 */
export function createHttpHandler(
  routes: readonly Route[],
  logger: Logger,
  meter?: Pick<ServerMeter, 'answered'>,
): HttpHandler {
  const compiled = routes.map((route) => ({ route, segments: route.path.split('/') }));

  function match(path: string): { route: Route; params: string[] }[] {
    const parts = path.split('/');
    const found: { route: Route; params: string[] }[] = [];
    for (const { route, segments } of compiled) {
      if (segments.length !== parts.length) continue;
      const params: string[] = [];
      const ok = segments.every((segment, i) => {
        const part = parts[i] ?? '';
        if (!segment.startsWith(':')) return segment === part;
        params.push(decodeSegment(part));
        return part.length > 0;
      });
      if (ok) found.push({ route, params });
    }
    return found;
  }

  return async (request, readBody) => {
    try {
      const candidates = match(request.url);
      const hit = candidates.find((c) => c.route.method === request.method);
      if (!hit) {
        if (candidates.length > 0) {
          throw new AppError(
            'method_not_allowed',
            `${request.method} is not allowed on ${request.url}`,
            405,
          );
        }
        throw new AppError('not_found', `no route ${request.url}`, 404);
      }
      return await hit.route.handler(request, hit.params, readBody);
    } catch (error) {
      const wire = toWireError(error);
      meter?.answered(wire.code, wire.status);
      if (wire.status >= 500) {
        logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
      }
      return errorAnswer(error);
    }
  };
}

function decodeSegment(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
