// REST and WebSocket access for the page: the same routes, socket and auth as any client.
const TOKEN_KEY = 'hitl-inspector-token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** `dev` or `jwt`, as the server wrote it into the page. */
export function authMode() {
  return document.querySelector('meta[name="hitl-auth-mode"]')?.getAttribute('content') ?? 'dev';
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A JSON request with the bearer token; a non-2xx answer throws an ApiError with its code. */
export async function api(method, path, body) {
  const headers = {};
  const bearer = token.get();
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const error = json?.error ?? {};
    throw new ApiError(response.status, error.code ?? 'http_error', error.message ?? text);
  }
  return json;
}

/**
 * One session's socket: the stored log replayed from `last_seq`, then live. Reconnects after
 * an unexpected close from the last stored seq it saw, so no event is missed or repeated.
 */
export function watchSession(sessionId, { onEvent, onStatus }) {
  let lastSeq = 0;
  let socket = null;
  let stopped = false;
  let retry;
  let delay = 1000;
  const open = () => {
    const url = new URL('/api/v1/ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('session_id', sessionId);
    url.searchParams.set('last_seq', String(lastSeq));
    const bearer = token.get();
    if (bearer) url.searchParams.set('token', bearer);
    socket = new WebSocket(url);
    onStatus('connecting');
    socket.onopen = () => {
      delay = 1000;
      onStatus('live');
    };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      const stored = !['connected', 'pong', 'message_delta'].includes(event.type);
      if (stored && event.type === 'error' && !event.execution_id) return onEvent(event, false);
      if (stored && event.seq <= lastSeq) return;
      if (stored) lastSeq = event.seq;
      onEvent(event, stored);
    };
    socket.onclose = () => {
      socket = null;
      if (stopped) return;
      onStatus('reconnecting');
      retry = setTimeout(open, delay);
      delay = Math.min(delay * 2, 15_000);
    };
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(retry);
    socket?.close(1000, 'bye');
  };
}
