import { AppError, toWireError } from '../errors.ts';

export const MAX_BODY_BYTES = 64 * 1024;

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  302: '302 Found',
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

/** What a handler sees of a request: copied out of the transport's request before any await. */
export interface RequestInfo {
  method: string;
  /** The path, without the query string. */
  url: string;
  query: URLSearchParams;
  authorization: string;
}

/** An HTTP answer as the core writes it; adapters only copy it onto their response. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Reads the request body (the adapter enforces MAX_BODY_BYTES: `payload_too_large` past it). */
export type BodyReader = () => Promise<Uint8Array>;

export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? `${status} Unknown`;
}

export function jsonAnswer(status: number, body: unknown): HttpAnswer {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

export function errorAnswer(error: unknown): HttpAnswer {
  const wire = toWireError(error);
  const answer = jsonAnswer(wire.status, { error: { code: wire.code, message: wire.message } });
  if (wire.retryAfterMs !== undefined) {
    answer.headers['retry-after'] = String(Math.max(1, Math.ceil(wire.retryAfterMs / 1000)));
  }
  return answer;
}

export function payloadTooLarge(): AppError {
  return new AppError('payload_too_large', `the body is over ${MAX_BODY_BYTES} bytes`, 413);
}

/** An empty body reads as `{}`; anything else must be JSON. */
export function parseJsonBody(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) return {};
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
  } catch {
    throw new AppError('invalid_json', 'the body is not valid JSON', 400);
  }
}

/** `Authorization: Bearer x` -> x. */
export function bearerToken(header: string): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1];
}
