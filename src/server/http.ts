import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { AppError, toWireError } from '../errors.ts';

export const MAX_BODY_BYTES = 64 * 1024;

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

/** What a handler sees of a request: copied out of uWS's `req`, which dies at the first await. */
export interface RequestInfo {
  method: string;
  url: string;
  query: URLSearchParams;
  params: string[];
  authorization: string;
}

export type Handler = (
  request: RequestInfo,
  body: () => Promise<unknown>,
) => Promise<{ status: number; body: unknown }>;

export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? `${status} Unknown`;
}

/** Writes a JSON answer, corked, unless the client went away. */
export function sendJson(
  res: HttpResponse,
  aborted: { value: boolean },
  status: number,
  body: unknown,
): void {
  if (aborted.value) return;
  res.cork(() => {
    res
      .writeStatus(statusLine(status))
      .writeHeader('content-type', 'application/json')
      .end(JSON.stringify(body));
  });
}

export function errorBody(error: unknown): {
  status: number;
  body: { error: { code: string; message: string } };
} {
  const wire = toWireError(error);
  return { status: wire.status, body: { error: { code: wire.code, message: wire.message } } };
}

/** Reads a JSON body of at most MAX_BODY_BYTES. Must be set up before the handler's first await. */
function bodyReader(res: HttpResponse): () => Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  const done = new Promise<Buffer>((resolve, reject) => {
    res.onData((chunk, isLast) => {
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      if (tooLarge)
        reject(new AppError('payload_too_large', `the body is over ${MAX_BODY_BYTES} bytes`, 413));
      else resolve(Buffer.concat(chunks));
    });
  });
  done.catch(() => undefined);
  return async () => {
    const bytes = await done;
    if (bytes.byteLength === 0) return {};
    try {
      return JSON.parse(bytes.toString('utf8')) as unknown;
    } catch {
      throw new AppError('invalid_json', 'the body is not valid JSON', 400);
    }
  };
}

/**
 * Wraps a JSON route: onAborted first, request copied before any await, body limited,
 * every throw logged and answered (AppError -> its status and code, anything else -> 500).
 */
export function jsonRoute(log: Logger, paramCount: number, handler: Handler, readsBody = false) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const aborted = { value: false };
    res.onAborted(() => {
      aborted.value = true;
    });
    const request: RequestInfo = {
      method: req.getMethod().toUpperCase(),
      url: req.getUrl(),
      query: new URLSearchParams(req.getQuery() ?? ''),
      params: Array.from({ length: paramCount }, (_, i) => req.getParameter(i) ?? ''),
      authorization: req.getHeader('authorization'),
    };
    const body = readsBody ? bodyReader(res) : () => Promise.resolve({});
    handler(request, body).then(
      (answer) => sendJson(res, aborted, answer.status, answer.body),
      (error: unknown) => {
        const answer = errorBody(error);
        if (answer.status >= 500)
          log.error({ err: error, method: request.method, url: request.url }, 'request failed');
        sendJson(res, aborted, answer.status, answer.body);
      },
    );
  };
}

/** `Authorization: Bearer x` -> x. */
export function bearerToken(header: string): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1];
}
