import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { toWireError } from '../../errors.ts';
import type { Connection, SocketState } from '../connection.ts';
import {
  errorAnswer,
  MAX_BODY_BYTES,
  payloadTooLarge,
  statusLine,
  type BodyReader,
  type HttpAnswer,
  type RequestInfo,
} from '../http.ts';
import { AppError } from '../../errors.ts';
import { WS_PATH, type Transport, type TransportDeps } from '../transport.ts';
import { createTopics } from './topics.ts';

/**
 * The portable adapter: `ws` on node:http, for platforms where no uWebSockets.js build loads.
 * It maps the same limits as uWS: frames over maxPayloadLength close the socket (1009),
 * a send buffer past maxBackpressure drops it (1006), silence past idleTimeout drops it.
 */
export function createPortableTransport(deps: TransportDeps): Transport {
  const { hub, http, limits, logger } = deps;
  const topics = createTopics();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxPayloadLength,
    perMessageDeflate: false,
    clientTracking: false,
  });
  const alive = new Map<WebSocket, boolean>();

  const server = createServer((req, res) => {
    const request = requestInfo(req);
    const readBody =
      request.method === 'GET' || request.method === 'HEAD' ? noBody : bodyReader(req);
    void http(request, readBody).then((answer) => write(res, answer));
  });
  server.on('clientError', (_error, socket) => socket.destroy());

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const { url, query, authorization } = requestInfo(req);
    if (url !== WS_PATH) {
      refuse(socket, errorAnswer(new AppError('not_found', `no route ${url}`, 404)));
      return;
    }
    hub.accept({ query, authorization }).then(
      (state) => {
        if (socket.destroyed) return;
        wss.handleUpgrade(req, socket, head, (ws) => open(ws, state));
      },
      (error: unknown) => {
        if (toWireError(error).status >= 500) logger.error({ err: error }, 'upgrade failed');
        refuse(socket, errorAnswer(error));
      },
    );
  });

  function open(ws: WebSocket, state: SocketState): void {
    const conn: Connection = {
      state,
      send(text) {
        if (state.closed || ws.readyState !== ws.OPEN) return;
        // What uWS's closeOnBackpressureLimit does: a client that stops reading is dropped.
        // Checked before the send: right after one, the count still holds bytes that the
        // kernel has already taken (node:net settles them a tick later).
        if (ws.bufferedAmount > limits.maxBackpressure) return ws.terminate();
        ws.send(text);
      },
      end(code, reason) {
        if (!state.closed) ws.close(code, reason);
      },
      drop() {
        if (!state.closed) ws.terminate();
      },
      bufferedAmount: () => ws.bufferedAmount,
      subscribe(topic) {
        if (!state.closed) topics.add(topic, conn);
      },
      cork: (fn) => fn(),
    };
    alive.set(ws, true);
    ws.on('message', (data: Buffer, isBinary) => {
      alive.set(ws, true);
      hub.message(conn, new Uint8Array(data), isBinary);
    });
    ws.on('pong', () => alive.set(ws, true));
    ws.on('error', (error) => state.log.debug({ err: error }, 'socket error'));
    ws.on('close', (code) => {
      state.closed = true;
      alive.delete(ws);
      topics.removeAll(conn);
      hub.closed(conn, code);
    });
    hub.opened(conn);
  }

  // Pings at half the idle timeout; a socket silent for a whole round is dropped, as uWS does.
  const pinger = setInterval(
    () => {
      for (const [ws, seen] of alive) {
        if (!seen) {
          ws.terminate();
          continue;
        }
        alive.set(ws, false);
        ws.ping();
      }
    },
    (limits.idleTimeout * 1000) / 2,
  );
  pinger.unref();

  return {
    name: 'portable',
    publish: (topic, text) => {
      for (const conn of topics.of(topic)) conn.send(text);
    },
    listen(host, port) {
      return new Promise((resolve, reject) => {
        const onError = (error: Error) =>
          reject(new Error(`cannot listen on ${host}:${port}: ${error.message}`));
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : port);
        });
      });
    },
    close() {
      clearInterval(pinger);
      server.close();
      server.closeIdleConnections();
    },
  };
}

function requestInfo(req: IncomingMessage): RequestInfo {
  const raw = req.url ?? '/';
  const mark = raw.indexOf('?');
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    url: mark === -1 ? raw : raw.slice(0, mark),
    query: new URLSearchParams(mark === -1 ? '' : raw.slice(mark + 1)),
    authorization: req.headers.authorization ?? '',
  };
}

function write(res: ServerResponse, answer: HttpAnswer): void {
  if (res.destroyed) return;
  res.writeHead(answer.status, {
    ...answer.headers,
    'content-length': Buffer.byteLength(answer.body),
  });
  res.end(answer.body);
}

/** A refused upgrade is a plain HTTP answer on the raw socket, then the socket closes. */
function refuse(socket: Duplex, answer: HttpAnswer): void {
  if (socket.destroyed) return;
  const headers = Object.entries(answer.headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.end(
    `HTTP/1.1 ${statusLine(answer.status)}\r\n${headers.join('')}` +
      `content-length: ${Buffer.byteLength(answer.body)}\r\nconnection: close\r\n\r\n${answer.body}`,
  );
}

const noBody: BodyReader = () => Promise.resolve(new Uint8Array(0));

function bodyReader(req: IncomingMessage): BodyReader {
  const done = new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () =>
      size > MAX_BODY_BYTES ? reject(payloadTooLarge()) : resolve(Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });
  done.catch(() => undefined);
  return () => done;
}
