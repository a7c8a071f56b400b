import WebSocket from 'ws';

/** What one socket saw of one execution (performance.now() times). */
export interface ExecutionTrace {
  firstDeltaAt: number;
  lastDeltaAt: number;
  completeAt: number;
  /** message_delta frames received. */
  frames: number;
  /** Characters of streamed text received. */
  chars: number;
}

export interface StreamSocket {
  /** Sends `execute` and resolves at its `complete`; rejects on an `error` event. */
  execute(command: string): Promise<ExecutionTrace>;
  close(): void;
}

interface WireEvent {
  type: string;
  data?: { delta?: string; code?: string; message?: string };
}

/** A session's socket (`ws`, a real client), connected once `connected` arrives. */
export async function connectSession(url: string, sessionId: string): Promise<StreamSocket> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/ws?session_id=${sessionId}`);
  let trace: ExecutionTrace | null = null;
  let settle: { resolve: (t: ExecutionTrace) => void; reject: (e: Error) => void } | null = null;

  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.on('message', (bytes: Buffer) => {
      const at = performance.now();
      const event = JSON.parse(bytes.toString()) as WireEvent;
      if (event.type === 'connected') resolve();
      if (!trace || !settle) return;
      if (event.type === 'message_delta') {
        if (trace.frames === 0) trace.firstDeltaAt = at;
        trace.lastDeltaAt = at;
        trace.frames += 1;
        trace.chars += event.data?.delta?.length ?? 0;
      } else if (event.type === 'complete') {
        trace.completeAt = at;
        settle.resolve(trace);
      } else if (event.type === 'error') {
        settle.reject(new Error(`error event: ${event.data?.code} ${event.data?.message}`));
      }
    });
  });

  return {
    execute(command) {
      if (settle) return Promise.reject(new Error('an execution is already running'));
      trace = { firstDeltaAt: NaN, lastDeltaAt: NaN, completeAt: NaN, frames: 0, chars: 0 };
      const done = new Promise<ExecutionTrace>((resolve, reject) => (settle = { resolve, reject }));
      ws.send(JSON.stringify({ type: 'execute', command }));
      return done.finally(() => {
        trace = null;
        settle = null;
      });
    },
    close: () => ws.close(),
  };
}

/** `count` sessions made with `POST /api/v1/sessions` (dev auth), each with its socket. */
export async function openSessions(url: string, count: number): Promise<StreamSocket[]> {
  const sockets: StreamSocket[] = [];
  for (let i = 0; i < count; i += 1) {
    const response = await fetch(`${url}/api/v1/sessions`, { method: 'POST' });
    if (response.status !== 201) throw new Error(`create session: ${response.status}`);
    const { id } = (await response.json()) as { id: string };
    sockets.push(await connectSession(url, id));
  }
  return sockets;
}
