import WebSocket from 'ws';
import type { App } from './test-app.ts';

export interface WireEvent {
  type: string;
  session_id: string;
  seq: number;
  timestamp: string;
  state: string;
  execution_id?: string;
  data: any;
}

/** A raw `ws` client that records every event, for tests that speak the wire protocol. */
export interface TestSocket {
  ws: WebSocket;
  events: WireEvent[];
  send(message: unknown): void;
  sendRaw(data: string | Buffer, binary?: boolean): void;
  /** Resolves with the first event (at or after index `from`) that matches; fails after timeoutMs. */
  waitFor(
    match: string | ((event: WireEvent) => boolean),
    options?: { from?: number; timeoutMs?: number },
  ): Promise<WireEvent>;
  close(): Promise<number>;
  closed: Promise<{ code: number; reason: string }>;
}

export function wsUrl(
  app: Pick<App, 'url'>,
  query: Record<string, string | number | undefined>,
): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query))
    if (value !== undefined) params.set(key, String(value));
  return `${app.url.replace('http', 'ws')}/api/v1/ws?${params.toString()}`;
}

/** Opens a socket; rejects with the HTTP status when the upgrade is refused. */
export function connect(
  app: Pick<App, 'url'>,
  query: { session_id?: string; token?: string; last_seq?: number },
  headers: Record<string, string> = {},
): Promise<TestSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(app, query), { headers });
    const events: WireEvent[] = [];
    const waiters = new Set<() => void>();
    let resolveClosed!: (value: { code: number; reason: string }) => void;
    const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
    ws.on('message', (raw) => {
      events.push(JSON.parse((raw as Buffer).toString('utf8')) as WireEvent);
      for (const waiter of [...waiters]) waiter();
    });
    ws.on('close', (code, reason) => {
      resolveClosed({ code, reason: reason.toString() });
      for (const waiter of [...waiters]) waiter();
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () =>
        reject(
          Object.assign(new Error(`upgrade refused: ${res.statusCode}`), {
            status: res.statusCode,
            body,
          }),
        ),
      );
    });
    ws.on('error', (error) => reject(error));
    ws.on('open', () =>
      resolve({
        ws,
        events,
        closed,
        send: (message) => ws.send(JSON.stringify(message)),
        sendRaw: (data, binary = false) => ws.send(data, { binary }),
        waitFor(match, options = {}) {
          const predicate = typeof match === 'string' ? (e: WireEvent) => e.type === match : match;
          const from = options.from ?? 0;
          return new Promise((res, rej) => {
            const check = () => {
              const found = events.slice(from).find(predicate);
              if (found) {
                waiters.delete(check);
                clearTimeout(timer);
                res(found);
              } else if (ws.readyState === WebSocket.CLOSED) {
                waiters.delete(check);
                clearTimeout(timer);
                rej(new Error(`socket closed while waiting for ${String(match)}`));
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              rej(
                new Error(
                  `timed out waiting for ${typeof match === 'string' ? match : 'event'}; got ${events.map((e) => e.type).join(',')}`,
                ),
              );
            }, options.timeoutMs ?? 5_000);
            waiters.add(check);
            check();
          });
        },
        async close() {
          if (ws.readyState !== WebSocket.CLOSED) ws.close(1000);
          return (await closed).code;
        },
      }),
    );
  });
}
