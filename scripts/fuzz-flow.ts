import WebSocket from 'ws';
import type { Frame } from './fuzz-frames.ts';

interface Event {
  type: string;
  data?: { request_id?: string; code?: string; id?: string };
}

export async function createSession(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/v1/sessions`, {
    method: 'POST',
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { id?: string };
  if (res.status !== 201 || typeof body.id !== 'string')
    throw new Error(`POST /api/v1/sessions answered ${res.status}`);
  return body.id;
}

/** Opens a socket and hands each event to `onEvent`; resolves once `connected` arrived. */
function connect(
  wsUrl: string,
  sessionId: string,
  onEvent: (e: Event) => void,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsUrl}/api/v1/ws?session_id=${sessionId}`);
    ws.on('error', reject);
    ws.on('message', (raw: Buffer) => {
      const event = JSON.parse(raw.toString()) as Event;
      if (event.type === 'connected') resolve(ws);
      onEvent(event);
    });
  });
}

/** The happy path on a fresh session: execute → approval_required → approve → complete. */
export async function finalFlow(
  baseUrl: string,
  wsUrl: string,
  timeoutMs = 15_000,
): Promise<string | undefined> {
  const sessionId = await createSession(baseUrl);
  const seen: string[] = [];
  let ws: WebSocket | undefined;
  const outcome = new Promise<string | undefined>((resolve) => {
    setTimeout(
      () => resolve(`timed out after ${timeoutMs} ms; saw ${seen.join(' → ')}`),
      timeoutMs,
    ).unref();
    connect(wsUrl, sessionId, (event) => {
      seen.push(event.type);
      if (event.type === 'approval_required' && event.data?.request_id !== undefined)
        ws?.send(JSON.stringify({ type: 'approve', request_id: event.data.request_id }));
      if (event.type === 'complete') resolve(undefined);
      if (event.type === 'error')
        resolve(`error ${event.data?.code ?? ''}; saw ${seen.join(' → ')}`);
    }).then(
      (socket) => {
        ws = socket;
        socket.send(JSON.stringify({ type: 'execute', command: 'transfer 250 USD to alice' }));
      },
      (error: unknown) => resolve(`cannot connect: ${String(error)}`),
    );
  });
  const failure = await outcome;
  if (failure === undefined && !seen.includes('approval_required'))
    return `completed without approval_required: ${seen.join(' → ')}`;
  ws?.close();
  return failure;
}

/** Replays one frame alone on a fresh session; true when it is answered with internal_error. */
export async function probe(baseUrl: string, wsUrl: string, frame: Frame): Promise<boolean> {
  const sessionId = await createSession(baseUrl);
  let internal = false;
  return new Promise((resolve) => {
    const done = (value: boolean) => {
      resolve(value);
      ws?.terminate();
    };
    let ws: WebSocket | undefined;
    setTimeout(() => done(internal), 3000).unref();
    connect(wsUrl, sessionId, (event) => {
      if (event.data?.code === 'internal_error') internal = true;
      if (event.type === 'pong' && event.data?.id === 'probe-end') done(internal);
    }).then(
      (socket) => {
        ws = socket;
        socket.on('close', () => done(internal));
        socket.send(frame.data, { binary: frame.binary });
        socket.send('{"type":"ping","id":"probe-end"}');
      },
      () => done(false),
    );
  });
}
