import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as setImmediatePromise, setTimeout as sleep } from 'node:timers/promises';
import { finishChunk, textChunk } from '../test/support/fake-chat-server.ts';

/** When the upstream wrote one answer's first and last content chunks (performance.now()). */
export interface AnswerTiming {
  firstChunkAt: number;
  lastChunkAt: number;
  /** Characters of text the answer streamed. */
  chars: number;
}

export interface StreamUpstream {
  /** The API root for OPENAI_BASE_URL (`http://127.0.0.1:<port>/v1`). */
  baseUrl: string;
  /** The next answers: this many one-word content chunks, `gapMs` apart (0: back to back). */
  setChunks(chunks: number, gapMs?: number): void;
  /** Resolves with the timing of the next answer once its last chunk is written. */
  nextAnswer(): Promise<AnswerTiming>;
  close(): Promise<void>;
}

/**
 * A Chat Completions SSE server in the bench process, so its clock is the WebSocket client's:
 * each answer is N one-word chunks, each its own write, one per event-loop turn (as fast as
 * it goes without starving the client beside it) or `gapMs` apart.
 */
export async function startStreamUpstream(): Promise<StreamUpstream> {
  let chunks = 1;
  let gap = 0;
  const waiting: Array<(timing: AnswerTiming) => void> = [];
  const finished: AnswerTiming[] = [];
  const settle = (timing: AnswerTiming) => {
    const resolve = waiting.shift();
    if (resolve) resolve(timing);
    else finished.push(timing);
  };

  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      streamAnswer(res, chunks, gap).then(settle, (error: unknown) => {
        console.error('upstream:', error);
        res.destroy();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    setChunks: (n, gapMs = 0) => {
      chunks = n;
      gap = gapMs;
    },
    nextAnswer: () => {
      const done = finished.shift();
      return done ? Promise.resolve(done) : new Promise((resolve) => waiting.push(resolve));
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const WORDS = ['alpha ', 'beta ', 'gamma ', 'delta ', 'epsilon '];
const frames = WORDS.map((word) => `data: ${JSON.stringify(textChunk(word))}\n\n`);
const tail = `data: ${JSON.stringify(finishChunk('stop'))}\n\ndata: [DONE]\n\n`;

async function streamAnswer(
  res: ServerResponse,
  chunks: number,
  gapMs: number,
): Promise<AnswerTiming> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
  const write = (frame: string) => new Promise((resolve) => res.write(frame, resolve));
  const firstChunkAt = performance.now();
  let lastChunkAt = firstChunkAt;
  let chars = 0;
  for (let i = 0; i < chunks; i += 1) {
    // Yield to the event loop either way: write callbacks alone never let the bench's own
    // WebSocket client read, which would hold back (and bunch up) what it receives.
    if (i > 0) await (gapMs > 0 ? sleep(gapMs) : setImmediatePromise());
    lastChunkAt = performance.now();
    await write(frames[i % frames.length]!);
    chars += WORDS[i % WORDS.length]!.length;
  }
  await write(tail);
  res.end();
  return { firstChunkAt, lastChunkAt, chars };
}
