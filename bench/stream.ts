/**
 * `npm run bench:stream`: LLM text streamed through the real server. A fake Chat Completions
 * upstream in this process answers the server's OpenAI-compatible planner; `ws` clients in this
 * process time what reaches the sockets, on the upstream's clock. Medians of runs.
 * Options: `npm run bench:stream -- --help`.
 */
import type { BenchTransport } from './config.ts';
import { machine } from './proc-stats.ts';
import { openSessions } from './stream-client.ts';
import { readStreamConfig, type StreamBenchConfig } from './stream-config.ts';
import { latencyRun, tokenRun, type LatencyRun, type TokenRun } from './stream-phases.ts';
import { startStreamServer } from './stream-server.ts';
import { startStreamUpstream, type StreamUpstream } from './stream-upstream.ts';
import { medianOf } from './stats.ts';

interface TransportResult {
  transport: BenchTransport;
  latency: LatencyRun;
  tokens: TokenRun;
}

const ms = (n: number) => `${n.toFixed(2)} ms`;
const gap = (config: StreamBenchConfig) =>
  config.gapMs > 0 ? `${config.gapMs} ms apart` : 'back to back';

async function benchTransport(
  transport: BenchTransport,
  upstream: StreamUpstream,
  config: StreamBenchConfig,
): Promise<TransportResult> {
  const server = await startStreamServer(transport, upstream.baseUrl);
  console.log(`\n${transport}: server pid ${server.pid} at ${server.url}`);
  const sockets = await openSessions(server.url, config.sessions);
  try {
    // Warm-up (JIT, the planner's HTTP pool): not reported.
    await latencyRun(sockets, upstream, 20);
    await tokenRun(server.pid, sockets, upstream, 2, config.tokens, config.gapMs);
    const latency: LatencyRun[] = [];
    const tokens: TokenRun[] = [];
    for (let run = 1; run <= config.runs; run += 1) {
      const l = await latencyRun(sockets, upstream, config.executions);
      const t = await tokenRun(
        server.pid,
        sockets,
        upstream,
        config.answers,
        config.tokens,
        config.gapMs,
      );
      console.log(
        `  run ${run}: first delta p50 ${ms(l.firstDeltaP50)} p99 ${ms(l.firstDeltaP99)}; ` +
          `complete p50 ${ms(l.completeP50)}; ${t.cpuPerTokenUs.toFixed(2)} µs/token; ` +
          `${t.framesPerAnswer} frames in ${t.answerMs.toFixed(0)} ms`,
      );
      latency.push(l);
      tokens.push(t);
    }
    return { transport, latency: medianOf(latency), tokens: medianOf(tokens) };
  } finally {
    for (const socket of sockets) socket.close();
    await server.stop();
  }
}

function report(results: TransportResult[], config: StreamBenchConfig): string {
  const row = (label: string, cell: (r: TransportResult) => string) =>
    `  ${label.padEnd(46)}${results.map((r) => cell(r).padStart(14)).join('')}`;
  return [
    `\nMedians of ${config.runs} run(s); times from the upstream's write of the first content chunk.`,
    row('', (r) => r.transport),
    `first token -> first message_delta (${config.executions} executions, ${config.sessions} sessions)`,
    row('  p50', (r) => ms(r.latency.firstDeltaP50)),
    row('  p99', (r) => ms(r.latency.firstDeltaP99)),
    `first token -> complete (same executions, 8-chunk answers)`,
    row('  p50', (r) => ms(r.latency.completeP50)),
    row('  p99', (r) => ms(r.latency.completeP99)),
    `streamed tokens (${config.answers} answers of ${config.tokens} chunks ${gap(config)} vs ${config.answers} of 1)`,
    row('  server CPU per token', (r) => `${r.tokens.cpuPerTokenUs.toFixed(2)} µs`),
    row(
      '  server CPU per one-chunk execution',
      (r) => `${r.tokens.cpuPerExecutionUs.toFixed(0)} µs`,
    ),
    row('  answer duration (upstream first -> last chunk)', (r) => ms(r.tokens.answerMs)),
    row('  client first -> last message_delta', (r) => ms(r.tokens.deltaSpanMs)),
    row('  message_delta frames per answer', (r) => r.tokens.framesPerAnswer.toFixed(0)),
    row('  frames at one per 30 ms over that span', (r) => r.tokens.expectedFrames.toFixed(0)),
    row('  first token -> complete', (r) => ms(r.tokens.completeMs)),
  ].join('\n');
}

async function main(): Promise<void> {
  const config = readStreamConfig(process.argv.slice(2), process.env);
  console.log(`machine: ${await machine()}`);
  console.log(
    `config: transports ${config.transports.join(',')}; ${config.runs} runs; ` +
      `${config.executions} executions over ${config.sessions} sessions; ` +
      `${config.answers} answers of ${config.tokens} tokens ${gap(config)}`,
  );
  const upstream = await startStreamUpstream();
  const results: TransportResult[] = [];
  try {
    for (const transport of config.transports)
      results.push(await benchTransport(transport, upstream, config));
  } finally {
    await upstream.close();
  }
  console.log(report(results, config));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
