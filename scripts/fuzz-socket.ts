import WebSocket from 'ws';
import type { Frame } from './fuzz-frames.ts';
import { describeFrame, type Stats } from './fuzz-stats.ts';

/** What the lanes of one session share: the requests waiting for a decision. */
export interface SessionState {
  readonly id: string;
  readonly pending: string[];
}

export interface LaneOptions {
  readonly wsUrl: string;
  readonly session: SessionState;
  readonly stats: Stats;
  /** Next frame to send, or undefined when the run's budget is spent. */
  readonly take: () => Frame | undefined;
  readonly window: number;
  /** Frames sent without an id whose internal_error could not be attributed. */
  readonly suspects: Frame[];
}

interface Window {
  readonly syncId: string;
  readonly frames: Frame[];
  done?: boolean;
  resolve?: () => void;
}

interface Connection {
  readonly ws: WebSocket;
  readonly closed: Promise<number>;
  readonly windows: Window[];
}

/** Codes that answer a client's own mistake; any other error code on a reply is a finding. */
const CLIENT_CODES = new Set([
  'invalid_json',
  'unknown_type',
  'invalid_message',
  'binary_not_supported',
  'message_too_large',
  'not_allowed_in_state',
  'approval_not_found',
  'approval_already_decided',
  'rate_limited',
  'tool_failed',
  'planner_failed',
]);

let syncCounter = 0;
const clientClosed = new WeakSet<WebSocket>();

function open(options: LaneOptions): Promise<Connection | undefined> {
  const { stats, session } = options;
  return new Promise((resolve) => {
    const ws = new WebSocket(`${options.wsUrl}/api/v1/ws?session_id=${session.id}`, {
      maxPayload: 64 * 1024 * 1024,
    });
    const windows: Window[] = [];
    let connected = false;
    const closed = new Promise<number>((onClose) => {
      ws.on('close', (code) => {
        stats.add(
          stats.closes,
          clientClosed.has(ws) ? `${code} (client's own close)` : String(code),
        );
        for (const w of windows) w.resolve?.();
        onClose(code);
        if (!connected) resolve(undefined);
      });
    });
    ws.on('error', () => undefined);
    ws.on('unexpected-response', (_req, res) => {
      stats.add(stats.http, `WS upgrade ${res.statusCode ?? 0}`);
      resolve(undefined);
    });
    ws.on('message', (raw: Buffer, isBinary) => {
      const text = raw.toString('utf8');
      if (isBinary) stats.add(stats.replies, 'binary (unexpected)');
      let event: { type?: unknown; data?: { code?: unknown; id?: unknown; request_id?: unknown } };
      try {
        event = JSON.parse(text) as typeof event;
      } catch {
        stats.add(stats.replies, 'not JSON (unexpected)');
        return;
      }
      const type = typeof event.type === 'string' ? event.type : '(no type)';
      stats.add(stats.replies, type);
      const replyId = typeof event.data?.id === 'string' ? event.data.id : undefined;
      const source =
        replyId === undefined
          ? undefined
          : windows.flatMap((w) => w.frames).find((f) => f.id === replyId);
      const sourceText = source && describeFrame(source.data, source.binary);
      stats.checkLeak(`socket reply ${type}`, text, sourceText);
      if (type === 'connected') {
        connected = true;
        resolve({ ws, closed, windows });
      }
      if (type === 'approval_required' && typeof event.data?.request_id === 'string')
        session.pending.push(event.data.request_id);
      if (type === 'error') {
        const code = typeof event.data?.code === 'string' ? event.data.code : '(no code)';
        stats.add(stats.errorCodes, code);
        if (!CLIENT_CODES.has(code)) {
          if (sourceText !== undefined)
            stats.findings.push({
              kind: 'internal_error',
              detail: `socket reply: ${text.slice(0, 400)}`,
              frame: sourceText,
            });
          else {
            stats.findings.push({
              kind: 'internal_error',
              detail: `socket reply (frame not attributed by id; probed later): ${text.slice(0, 400)}`,
            });
            options.suspects.push(
              ...windows
                .flatMap((w) => w.frames)
                .filter((f) => f.id === undefined || f.id === replyId),
            );
          }
        }
      }
      if (type === 'pong' && replyId?.startsWith('sync-')) {
        const at = windows.findIndex((w) => w.syncId === replyId);
        if (at >= 0)
          for (const w of windows.splice(0, at + 1)) {
            w.done = true;
            w.resolve?.();
          }
      }
    });
    setTimeout(() => {
      if (!connected) {
        stats.add(stats.closes, 'connect timeout');
        ws.terminate();
      }
    }, 5000).unref();
  });
}

function waitFor(
  window: Window,
  closed: Promise<number>,
  ms: number,
): Promise<'ok' | 'closed' | 'timeout'> {
  if (window.done === true) return Promise.resolve('ok');
  return Promise.race([
    new Promise<'ok'>((resolve) => (window.resolve = () => resolve('ok'))),
    closed.then(() => 'closed' as const),
    new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref()),
  ]);
}

/**
 * One socket on a session, sending frames pipelined: `window` frames, then a ping whose pong
 * marks them answered; at most two windows in flight. Reconnects whenever the server closes it.
 */
export async function runLane(options: LaneOptions): Promise<void> {
  const { stats } = options;
  let conn: Connection | undefined;
  let current: Window | undefined;
  for (;;) {
    if (conn === undefined || conn.ws.readyState !== WebSocket.OPEN) {
      conn = await open(options);
      current = undefined;
      if (conn === undefined) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
    }
    const frame = options.take();
    if (frame === undefined) break;
    current ??= { syncId: `sync-${++syncCounter}`, frames: [] };
    current.frames.push(frame);
    stats.framesSent++;
    stats.add(stats.frameKinds, frame.kind);
    conn.ws.send(frame.data, { binary: frame.binary });
    stats.sent.push({
      at: Date.now(),
      sessionId: options.session.id,
      frame: describeFrame(frame.data, frame.binary),
    });
    if (frame.closes) {
      const outcome = await Promise.race([
        conn.closed,
        new Promise<'open'>((r) => setTimeout(() => r('open'), 3000).unref()),
      ]);
      if (outcome === 'open') {
        stats.add(stats.closes, `still open after ${frame.kind}`);
        conn.ws.terminate();
      }
      conn = undefined;
      continue;
    }
    if (current.frames.length >= options.window) {
      const sealed = current;
      conn.windows.push(sealed);
      current = undefined;
      conn.ws.send(`{"type":"ping","id":"${sealed.syncId}"}`);
      stats.framesSent++;
      stats.add(stats.frameKinds, 'sync-ping');
      const oldest = conn.windows.length >= 2 ? conn.windows[0] : undefined;
      if (oldest !== undefined) {
        const outcome = await waitFor(oldest, conn.closed, 15_000);
        if (outcome === 'timeout') {
          stats.findings.push({
            kind: 'crash',
            detail: `no pong for ${oldest.syncId} within 15 s on session ${options.session.id} (socket stalled)`,
          });
          conn.ws.terminate();
          conn = undefined;
        }
      }
    }
  }
  if (conn !== undefined) {
    const last = conn.windows.at(-1);
    if (last !== undefined) await waitFor(last, conn.closed, 15_000);
    clientClosed.add(conn.ws);
    conn.ws.close();
    await conn.closed;
  }
}
