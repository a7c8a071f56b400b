import { SessionClientError } from './errors.ts';

/** An open socket, as the session client sees it. */
export interface Transport {
  send(text: string): void;
  close(code: number, reason: string): void;
}

/** What an open transport reports; `close` comes once, and nothing follows it. */
export interface TransportEvents {
  message(text: string): void;
  close(code: number, reason: string): void;
}

export interface TransportRequest {
  url: string;
  token: string | undefined;
  timeoutMs: number;
  events: TransportEvents;
}

/** Opens a socket: resolves once it is open, rejects with a SessionClientError otherwise. */
export type TransportFactory = (request: TransportRequest) => Promise<Transport>;

/** The WHATWG WebSocket surface the browser path needs (browsers, Deno, Bun, Node 22+). */
interface BrowserSocket {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(text: string): void;
  close(code?: number, reason?: string): void;
}
/** The browser's `WebSocket` class, or one with its interface (checked where it is used). */
export type WebSocketClass = new (url: string) => unknown;

/**
 * In Node, `ws` (loaded on first use, so browser bundles never reach for a Node module): it
 * sends the token as a header and reports a refused upgrade's status and code, which Node
 * 22+'s global WebSocket cannot. Elsewhere, the global WebSocket.
 */
export const defaultTransport: TransportFactory = (request) => {
  const global = (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  return global && !isNode ? browserTransport(global, request) : nodeTransport(request);
};

/** A browser cannot set headers on an upgrade, so the token goes in the query. */
export function browserTransport(
  WebSocketClass: WebSocketClass,
  request: TransportRequest,
): Promise<Transport> {
  const url = new URL(request.url);
  if (request.token !== undefined) url.searchParams.set('token', request.token);
  return new Promise((resolve, reject) => {
    const socket = new WebSocketClass(url.toString()) as BrowserSocket;
    let open = false;
    const timer = setTimeout(() => {
      socket.close();
      fail(
        new SessionClientError('connect_failed', `no connection within ${request.timeoutMs} ms`),
      );
    }, request.timeoutMs);
    const fail = (error: SessionClientError) => {
      clearTimeout(timer);
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      reject(error);
    };
    // The browser hides the HTTP status of a refused upgrade: it reads as a failed connect.
    socket.onerror = () => {
      if (!open) fail(new SessionClientError('connect_failed', 'the WebSocket could not connect'));
    };
    socket.onopen = () => {
      open = true;
      clearTimeout(timer);
      resolve({
        send: (text) => socket.send(text),
        close: (code, reason) => socket.close(code, reason),
      });
    };
    socket.onmessage = (event) => {
      if (typeof event.data === 'string') request.events.message(event.data);
    };
    socket.onclose = (event) => {
      if (!open) return fail(new SessionClientError('connect_failed', `closed (${event.code})`));
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      request.events.close(event.code, event.reason);
    };
  });
}

/** `ws` on Node: the token in an Authorization header, and refusals with their status. */
export async function nodeTransport(request: TransportRequest): Promise<Transport> {
  const { default: WebSocket } = await import('ws');
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(request.url, {
      perMessageDeflate: false,
      handshakeTimeout: request.timeoutMs,
      ...(request.token !== undefined
        ? { headers: { authorization: `Bearer ${request.token}` } }
        : {}),
    });
    let settled = false;
    const fail = (error: SessionClientError) => {
      if (settled) return;
      settled = true;
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.terminate();
      reject(error);
    };
    socket.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 4_096) body += chunk;
      });
      res.on('end', () => fail(refusal(status, body)));
      res.on('error', () => fail(refusal(status, body)));
    });
    socket.on('error', (error) => fail(new SessionClientError('connect_failed', error.message)));
    socket.on('close', (code) =>
      fail(new SessionClientError('connect_failed', `closed (${code})`)),
    );
    socket.once('open', () => {
      settled = true;
      socket.removeAllListeners();
      // After open an error is always followed by close, which is what the client acts on.
      socket.on('error', () => undefined);
      socket.on('message', (data, isBinary) => {
        // binaryType is the default 'nodebuffer': a frame arrives as one Buffer.
        if (!isBinary) request.events.message((data as Buffer).toString('utf8'));
      });
      socket.once('close', (code, reason) => request.events.close(code, reason.toString()));
      resolve({
        send: (text) => socket.send(text),
        close: (code, reason) => socket.close(code, reason),
      });
    });
  });
}

/** A refused upgrade: the server's code from its JSON body when there is one. */
function refusal(status: number, body: string): SessionClientError {
  let code = 'upgrade_refused';
  let message = `the server refused the connection (${status})`;
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.code === 'string') code = parsed.error.code;
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
  } catch {
    // Not JSON: keep the generic code.
  }
  return new SessionClientError(code, message, { status });
}
