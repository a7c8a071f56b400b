import type { ExecutionTrace, StreamSocket } from './stream-client.ts';
import type { AnswerTiming, StreamUpstream } from './stream-upstream.ts';
import { median, percentile } from './stats.ts';
import { threadCpuUs } from './thread-cpu.ts';

/** Chunks of a latency answer: a short reply, so `complete` is mostly per-execution cost. */
const LATENCY_CHUNKS = 8;

export interface LatencyRun extends Record<string, number> {
  /** Upstream writes the first content chunk -> the client has the first message_delta, ms. */
  firstDeltaP50: number;
  firstDeltaP99: number;
  /** Upstream writes the first content chunk -> the client has `complete`, ms. */
  completeP50: number;
  completeP99: number;
}

export interface TokenRun extends Record<string, number> {
  /** Server CPU per streamed token, less a one-chunk answer's per-execution cost, µs. */
  cpuPerTokenUs: number;
  /** Server CPU of a one-chunk execution, µs. */
  cpuPerExecutionUs: number;
  /** message_delta frames a socket received per long answer (median). */
  framesPerAnswer: number;
  /** Upstream first -> last content chunk of a long answer (median), ms. */
  answerMs: number;
  /** The client's first -> last message_delta of a long answer (median), ms. */
  deltaSpanMs: number;
  /** Frames a 30 ms coalescing sends over deltaSpanMs: deltaSpanMs / 30 + 1. */
  expectedFrames: number;
  /** Upstream first content chunk -> `complete` of a long answer (median), ms. */
  completeMs: number;
}

interface Sample {
  trace: ExecutionTrace;
  timing: AnswerTiming;
}

/** `count` executions one after another, round-robin over the sockets. */
async function executeAll(
  sockets: StreamSocket[],
  upstream: StreamUpstream,
  count: number,
): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let i = 0; i < count; i += 1) {
    const socket = sockets[i % sockets.length]!;
    const [trace, timing] = await Promise.all([
      socket.execute(`bench execution ${i}`),
      upstream.nextAnswer(),
    ]);
    if (trace.chars !== timing.chars)
      throw new Error(`streamed ${trace.chars} of ${timing.chars} characters before complete`);
    samples.push({ trace, timing });
  }
  return samples;
}

export async function latencyRun(
  sockets: StreamSocket[],
  upstream: StreamUpstream,
  executions: number,
): Promise<LatencyRun> {
  upstream.setChunks(LATENCY_CHUNKS);
  const samples = await executeAll(sockets, upstream, executions);
  const first = samples.map((s) => s.trace.firstDeltaAt - s.timing.firstChunkAt);
  const complete = samples.map((s) => s.trace.completeAt - s.timing.firstChunkAt);
  return {
    firstDeltaP50: percentile(first, 50),
    firstDeltaP99: percentile(first, 99),
    completeP50: percentile(complete, 50),
    completeP99: percentile(complete, 99),
  };
}

/**
 * `answers` one-chunk executions (baseline), then as many of `tokens` chunks; the server's CPU
 * is read around each batch, so the difference is what the extra tokens cost.
 */
export async function tokenRun(
  serverPid: number,
  sockets: StreamSocket[],
  upstream: StreamUpstream,
  answers: number,
  tokens: number,
  gapMs: number,
): Promise<TokenRun> {
  const cpuOf = async (chunks: number) => {
    upstream.setChunks(chunks, gapMs);
    const before = await threadCpuUs(serverPid);
    const samples = await executeAll(sockets, upstream, answers);
    return { cpuUs: (await threadCpuUs(serverPid)) - before, samples };
  };
  const baseline = await cpuOf(1);
  const stream = await cpuOf(tokens);
  const answerMs = median(stream.samples.map((s) => s.timing.lastChunkAt - s.timing.firstChunkAt));
  const deltaSpanMs = median(stream.samples.map((s) => s.trace.lastDeltaAt - s.trace.firstDeltaAt));
  return {
    cpuPerTokenUs: (stream.cpuUs - baseline.cpuUs) / (answers * (tokens - 1)),
    cpuPerExecutionUs: baseline.cpuUs / answers,
    framesPerAnswer: median(stream.samples.map((s) => s.trace.frames)),
    answerMs,
    deltaSpanMs,
    expectedFrames: deltaSpanMs / 30 + 1,
    completeMs: median(stream.samples.map((s) => s.trace.completeAt - s.timing.firstChunkAt)),
  };
}
