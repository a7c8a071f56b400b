import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP server that speaks OpenAI Chat Completions (SSE `data:` chunks, `[DONE]`), the
 * one mock this project allows. Each request takes the next scripted response; every request
 * body is recorded, and so is the moment a client dropped its connection mid-answer.
 */

export const FAKE_MODEL = 'fake-model';

/** A pause between events of a streamed answer. */
export class Pause {
  constructor(readonly ms: number) {}
}
export const pause = (ms: number) => new Pause(ms);

/** Bytes written as they are, not framed as an event: for events split across writes. */
export class Raw {
  constructor(readonly bytes: Buffer) {}
}
export const raw = (bytes: string | Buffer) =>
  new Raw(typeof bytes === 'string' ? Buffer.from(bytes) : bytes);

/** An SSE event: an object is sent as `data: <json>`, a string as raw data. */
export type FakeEvent = object | string | Pause | Raw;

export interface FakeResponse {
  status?: number;
  headers?: Record<string, string>;
  /** A streamed answer (text/event-stream). */
  events?: FakeEvent[];
  /** Append `data: [DONE]` after the events. Default true. */
  done?: boolean;
  /** After the events: end the answer (default), keep it open until the client leaves, or drop the socket. */
  then?: 'end' | 'hang' | 'destroy';
  /** A whole JSON body (application/json). */
  json?: unknown;
  /** A raw body with the given headers. */
  body?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body. */
  body: unknown;
  receivedAt: number;
  /** When the client closed the connection before the answer was complete. */
  clientClosedAt: number | undefined;
  /** Resolves with that time, once the client closes early. */
  clientClosed: Promise<number>;
}

export interface FakeChatServer {
  /** The API root to give a planner as `baseUrl` (`http://127.0.0.1:<port>/v1`). */
  baseUrl: string;
  requests: RecordedRequest[];
  /** Queues answers for the next requests, in order. */
  enqueue(...responses: FakeResponse[]): void;
  /** How many queued answers no request took yet. */
  pending(): number;
  close(): Promise<void>;
}

export async function startFakeChatServer(): Promise<FakeChatServer> {
  const queue: FakeResponse[] = [];
  const requests: RecordedRequest[] = [];

  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      let resolveClosed: (at: number) => void = () => undefined;
      const record: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: text === '' ? undefined : (JSON.parse(text) as unknown),
        receivedAt: performance.now(),
        clientClosedAt: undefined,
        clientClosed: new Promise((resolve) => (resolveClosed = resolve)),
      };
      requests.push(record);
      res.on('close', () => {
        if (res.writableFinished) return;
        record.clientClosedAt = performance.now();
        resolveClosed(record.clientClosedAt);
      });
      const scripted = queue.shift() ?? {
        status: 500,
        json: { error: { message: 'fake chat server: no scripted response left' } },
      };
      void answer(res, scripted);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...responses) => queue.push(...responses),
    pending: () => queue.length,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function answer(res: ServerResponse, scripted: FakeResponse): Promise<void> {
  const status = scripted.status ?? 200;
  if (scripted.json !== undefined || scripted.body !== undefined) {
    const body = scripted.body ?? JSON.stringify(scripted.json);
    res.writeHead(status, {
      'content-type': scripted.json !== undefined ? 'application/json' : 'text/plain',
      ...scripted.headers,
    });
    res.end(body);
    return;
  }
  res.writeHead(status, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    ...scripted.headers,
  });
  res.flushHeaders();
  for (const event of scripted.events ?? []) {
    if (res.destroyed) return;
    if (event instanceof Pause) {
      await new Promise((resolve) => setTimeout(resolve, event.ms));
      continue;
    }
    const frame =
      event instanceof Raw
        ? event.bytes
        : `data: ${typeof event === 'string' ? event : JSON.stringify(event)}\n\n`;
    // Waiting for each write keeps events apart and lets 'destroy' come after what was sent.
    await new Promise((resolve) => res.write(frame, resolve));
  }
  if (res.destroyed) return;
  const then = scripted.then ?? 'end';
  if (then === 'destroy') {
    res.socket?.destroy();
    return;
  }
  if (then === 'hang') return;
  if (scripted.done ?? true) res.write('data: [DONE]\n\n');
  res.end();
}

// Chunk builders: the shapes OpenAI-compatible servers stream.

const base = (model: string) => ({
  id: 'chatcmpl-fake',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model,
});

export function textChunk(content: string, model = FAKE_MODEL) {
  return { ...base(model), choices: [{ index: 0, delta: { content }, finish_reason: null }] };
}

export interface ToolCallFragmentSpec {
  index?: number;
  id?: string;
  name?: string;
  /** A JSON fragment, or an object (what some servers send instead of a string). */
  arguments?: string | Record<string, unknown>;
}

export function toolCallChunk(fragment: ToolCallFragmentSpec, model = FAKE_MODEL) {
  const call = {
    index: fragment.index ?? 0,
    ...(fragment.id !== undefined ? { id: fragment.id, type: 'function' } : {}),
    function: {
      ...(fragment.name !== undefined ? { name: fragment.name } : {}),
      ...(fragment.arguments !== undefined ? { arguments: fragment.arguments } : {}),
    },
  };
  return {
    ...base(model),
    choices: [{ index: 0, delta: { tool_calls: [call] }, finish_reason: null }],
  };
}

/** A whole call's fragments: the header, then its JSON arguments cut into `size`-char pieces. */
export function toolCallChunks(
  call: { index?: number; id?: string; name: string; args: Record<string, unknown> },
  size = Infinity,
) {
  const json = JSON.stringify(call.args);
  const head = toolCallChunk({
    ...(call.index !== undefined ? { index: call.index } : {}),
    ...(call.id !== undefined ? { id: call.id } : {}),
    name: call.name,
    arguments: '',
  });
  const pieces: object[] = [];
  for (let at = 0; at < json.length; at += size) {
    pieces.push(toolCallChunk({ index: call.index ?? 0, arguments: json.slice(at, at + size) }));
  }
  return [head, ...pieces];
}

export function finishChunk(reason: string | null = 'stop', model = FAKE_MODEL) {
  return { ...base(model), choices: [{ index: 0, delta: {}, finish_reason: reason }] };
}

export function usageChunk(prompt_tokens: number, completion_tokens: number, model = FAKE_MODEL) {
  return {
    ...base(model),
    choices: [],
    usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
  };
}

export function errorChunk(message: string, type = 'server_error', code: string | number = 500) {
  return { error: { message, type, code } };
}

/** A non-streamed `chat.completion` body: what a server that ignores `stream: true` answers. */
export function completionBody(options: {
  text?: string | null;
  toolCalls?: Array<{ id: string; name: string; args: Record<string, unknown> }>;
  finish?: string;
  usage?: { prompt_tokens: number; completion_tokens: number };
  model?: string;
}) {
  const usage = options.usage;
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: options.model ?? FAKE_MODEL,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: options.text ?? null,
          ...(options.toolCalls
            ? {
                tool_calls: options.toolCalls.map((c) => ({
                  id: c.id,
                  type: 'function',
                  function: { name: c.name, arguments: JSON.stringify(c.args) },
                })),
              }
            : {}),
        },
        finish_reason: options.finish ?? (options.toolCalls ? 'tool_calls' : 'stop'),
      },
    ],
    ...(usage
      ? { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } }
      : {}),
  };
}
