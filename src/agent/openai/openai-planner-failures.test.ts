import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  errorChunk,
  finishChunk,
  pause,
  startFakeChatServer,
  textChunk,
} from '../../../test/support/fake-chat-server.ts';
import { appErrorOf, plannerInput, step } from '../../../test/support/planner-fixtures.ts';
import { createBuiltinTools } from '../builtin-tools.ts';
import { createLedger } from '../ledger.ts';
import { createOpenAIPlanner, type OpenAIPlannerOptions } from './openai-planner.ts';

const server = await startFakeChatServer();
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  sleeps.length = 0;
});

const API_KEY = 'sk-test-5f1c0ffee5ecret';
const tools = createBuiltinTools(createLedger());
const sleeps: number[] = [];

function plannerWith(overrides: Partial<OpenAIPlannerOptions> = {}) {
  return createOpenAIPlanner({
    baseUrl: server.baseUrl,
    model: 'm',
    tools,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    ...overrides,
  });
}

const ok = { events: [textChunk('fine'), finishChunk('stop')] };

describe('openai planner: retries', () => {
  it('waits as long as Retry-After says after a 429, then answers', async () => {
    server.enqueue(
      { status: 429, headers: { 'retry-after': '2' }, json: { error: { message: 'slow down' } } },
      ok,
    );
    const { step: answer } = await step(plannerWith(), plannerInput());
    expect(answer).toMatchObject({ kind: 'final', summary: 'fine' });
    expect(sleeps).toEqual([2_000]);
    expect(server.requests).toHaveLength(2);
  });

  it('reads Retry-After as an HTTP date, and caps what it asks for', async () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    server.enqueue(
      { status: 503, headers: { 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }, body: 'busy' },
      { status: 429, headers: { 'retry-after': '3600' }, body: 'later' },
      ok,
    );
    await step(plannerWith({ now: () => now }), plannerInput());
    expect(sleeps).toEqual([5_000, 30_000]);
  });

  it('backs off exponentially and gives up after maxRetries with llm_unavailable', async () => {
    const busy = { status: 503, json: { error: { message: 'model is loading' } } };
    server.enqueue(busy, busy, busy);
    const error = await appErrorOf(step(plannerWith(), plannerInput()));
    expect(error.code).toBe('llm_unavailable');
    expect(error.message).toContain('after 3 attempts');
    expect(error.message).toContain('503 model is loading');
    expect(sleeps).toEqual([500, 1_000]);
    expect(server.requests).toHaveLength(3);
  });

  it('retries a refused connection, then fails with llm_unavailable', async () => {
    const dead = await startFakeChatServer();
    const baseUrl = dead.baseUrl;
    await dead.close();
    const error = await appErrorOf(step(plannerWith({ baseUrl, maxRetries: 1 }), plannerInput()));
    expect(error.code).toBe('llm_unavailable');
    expect(error.message).toMatch(/after 2 attempts: fetch failed.*ECONNREFUSED/);
    expect(sleeps).toEqual([500]);
  });

  it('does not retry a 500 that arrives in the stream after the first delta', async () => {
    server.enqueue({
      events: [textChunk('Let me'), errorChunk('internal server error', 'server_error', 500)],
    });
    const deltas: string[] = [];
    const error = await appErrorOf(
      plannerWith().next(plannerInput(), {
        signal: new AbortController().signal,
        onDelta: (_id, delta) => deltas.push(delta),
      }),
    );
    expect(error.code).toBe('llm_stream_error');
    expect(error.message).toContain('internal server error');
    expect(deltas).toEqual(['Let me']);
    expect(server.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('does not retry a connection dropped after the first delta', async () => {
    server.enqueue({ events: [textChunk('Let me'), pause(20)], then: 'destroy' });
    const deltas: string[] = [];
    const error = await appErrorOf(
      plannerWith().next(plannerInput(), {
        signal: new AbortController().signal,
        onDelta: (_id, delta) => deltas.push(delta),
      }),
    );
    expect(deltas).toEqual(['Let me']);
    expect(error.code).toBe('llm_stream_error');
    expect(server.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });
});

describe('openai planner: errors', () => {
  it('fails on a 400 at once with the upstream message', async () => {
    server.enqueue({
      status: 400,
      json: {
        error: { message: "'tools.0.function.name' is invalid", type: 'invalid_request_error' },
      },
    });
    const error = await appErrorOf(step(plannerWith(), plannerInput()));
    expect([error.code, error.message]).toEqual([
      'llm_bad_request',
      "the model server refused the request (400): 'tools.0.function.name' is invalid",
    ]);
    expect(server.requests).toHaveLength(1);
  });

  it('fails with a clear error when the stream carries an error object', async () => {
    server.enqueue({
      events: [errorChunk('context length exceeded', 'invalid_request_error', 400)],
    });
    const error = await appErrorOf(step(plannerWith(), plannerInput()));
    expect(error.code).toBe('llm_stream_error');
    expect(error.message).toContain('context length exceeded');
  });

  it('fails when a stream ends before any answer', async () => {
    server.enqueue({ events: [], done: false });
    const error = await appErrorOf(step(plannerWith(), plannerInput()));
    expect(error.code).toBe('llm_stream_error');
    expect(error.message).toContain('ended before any answer');
  });

  it('fails with llm_timeout when the answer takes longer than timeoutMs, and hangs up', async () => {
    server.enqueue({ events: [textChunk('thinking')], then: 'hang' });
    const error = await appErrorOf(step(plannerWith({ timeoutMs: 150 }), plannerInput()));
    expect(error.code).toBe('llm_timeout');
    expect(error.message).toContain('150 ms');
    await server.requests[0]!.clientClosed;
  });

  it('sends the API key as a Bearer token and keeps it out of errors and logs', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const planner = plannerWith({ apiKey: API_KEY, logger });
    server.enqueue(
      { status: 502, body: `upstream rejected key ${API_KEY}` },
      { status: 401, json: { error: { message: `Incorrect API key provided: ${API_KEY}` } } },
    );
    const error = await appErrorOf(step(planner, plannerInput()));

    expect(server.requests.map((r) => r.headers.authorization)).toEqual([
      `Bearer ${API_KEY}`,
      `Bearer ${API_KEY}`,
    ]);
    expect(error.code).toBe('llm_auth_failed');
    expect(error.message).toContain('Incorrect API key provided: [redacted]');
    const everything = JSON.stringify({ ...error, message: error.message, stack: error.stack });
    expect(everything).not.toContain(API_KEY);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('')).not.toContain(API_KEY);
  });

  it('redacts the API key from an error the stream carries', async () => {
    server.enqueue({ events: [errorChunk(`quota exceeded for ${API_KEY}`)] });
    const error = await appErrorOf(step(plannerWith({ apiKey: API_KEY }), plannerInput()));
    expect(error.code).toBe('llm_stream_error');
    expect(error.message).toContain('quota exceeded for [redacted]');
    expect(error.message).not.toContain(API_KEY);
  });
});

describe('openai planner: cancel', () => {
  it('aborts the upstream request at once and rejects with the abort reason', async () => {
    server.enqueue({ events: [textChunk('Working on it')], then: 'hang' });
    const controller = new AbortController();
    const reason = new Error('cancelled by carol');
    let abortedAt = Infinity;
    const running = plannerWith().next(plannerInput(), {
      signal: controller.signal,
      onDelta: () => {
        abortedAt = performance.now();
        controller.abort(reason);
      },
    });
    await expect(running).rejects.toBe(reason);
    const closedAt = await server.requests[0]!.clientClosed;
    expect(closedAt - abortedAt).toBeLessThan(100);
  });

  it('stops waiting between retries when aborted', async () => {
    server.enqueue({ status: 429, headers: { 'retry-after': '20' }, body: 'slow down' });
    const controller = new AbortController();
    const reason = new Error('cancelled');
    const running = createOpenAIPlanner({ baseUrl: server.baseUrl, model: 'm', tools }).next(
      plannerInput(),
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(reason), 50);
    const started = performance.now();
    await expect(running).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(server.requests).toHaveLength(1);
  });

  it('rejects without a request when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    await expect(plannerWith().next(plannerInput(), { signal: controller.signal })).rejects.toThrow(
      'too late',
    );
    expect(server.requests).toHaveLength(0);
  });
});
