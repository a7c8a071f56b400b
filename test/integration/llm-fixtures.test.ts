import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createBuiltinTools, createLedger } from '../../src/agent/index.ts';
import { createOpenAIPlanner } from '../../src/agent/openai/index.ts';
import {
  completionBody,
  errorChunk,
  finishChunk,
  startFakeChatServer,
  textChunk,
  toolCallChunk,
  toolCallChunks,
  type FakeResponse,
} from '../support/fake-chat-server.ts';
import { testTargets } from '../support/targets.ts';
import { http } from '../support/test-app.ts';
import type { WireEvent } from '../support/ws-client.ts';
import { expectContiguous, openUserSession, useTestApp } from './harness.ts';

// What real Chat Completions servers send, each driven through a real session over a real
// socket; the stored log is what a user (and an auditor) sees.
const llm = await startFakeChatServer();
afterAll(() => llm.close());
beforeEach(() => {
  llm.requests.length = 0;
});

const done: FakeResponse = { events: [textChunk('Done.'), finishChunk('stop')] };
const echo = (id: string, text: string, index = 0) =>
  toolCallChunks({ index, id, name: 'echo', args: { text } });

interface Fixture {
  name: string;
  responses: FakeResponse[];
  /** The stored event types of the execution, in order. */
  types: string[];
  /** The echoed texts, in order. */
  echoed?: string[];
  requests: number;
}

const THEN_DONE = ['message', 'complete'];
const ONE_ECHO = ['thinking', 'message', 'tool_call', 'tool_result', ...THEN_DONE];

const fixtures: Fixture[] = [
  {
    name: 'arguments split into 1-byte fragments',
    responses: [
      {
        events: [
          ...toolCallChunks({ id: 'm1', name: 'echo', args: { text: 'tiny pieces' } }, 1),
          finishChunk('tool_calls'),
        ],
      },
      done,
    ],
    types: ONE_ECHO,
    echoed: ['tiny pieces'],
    requests: 2,
  },
  {
    name: 'two parallel calls, both at index 0 with distinct ids',
    responses: [
      { events: [...echo('m1', 'first'), ...echo('m2', 'second'), finishChunk('tool_calls')] },
      done,
    ],
    types: [
      'thinking',
      'message',
      'tool_call',
      'tool_result',
      'tool_call',
      'tool_result',
      ...THEN_DONE,
    ],
    echoed: ['first', 'second'],
    requests: 2,
  },
  {
    name: 'arguments as an object instead of a string',
    responses: [
      {
        events: [
          toolCallChunk({ id: 'm1', name: 'echo', arguments: { text: 'an object' } }),
          finishChunk('tool_calls'),
        ],
      },
      done,
    ],
    types: ONE_ECHO,
    echoed: ['an object'],
    requests: 2,
  },
  {
    name: 'finish_reason stop together with tool calls',
    responses: [{ events: [...echo('m1', 'stopped'), finishChunk('stop')] }, done],
    types: ONE_ECHO,
    echoed: ['stopped'],
    requests: 2,
  },
  {
    name: 'a stream that ends without [DONE]',
    responses: [{ events: [textChunk('No done marker.'), finishChunk('stop')], done: false }],
    types: ['thinking', ...THEN_DONE],
    requests: 1,
  },
  {
    name: 'a plain JSON answer when stream was ignored',
    responses: [
      { json: completionBody({ toolCalls: [{ id: 'm1', name: 'echo', args: { text: 'json' } }] }) },
      { json: completionBody({ text: 'Done.' }) },
    ],
    types: ONE_ECHO,
    echoed: ['json'],
    requests: 2,
  },
  {
    name: '429 with Retry-After, then success (retried before any byte)',
    responses: [
      { status: 429, headers: { 'retry-after': '0' }, json: { error: { message: 'slow down' } } },
      done,
    ],
    types: ['thinking', ...THEN_DONE],
    requests: 2,
  },
  {
    name: 'an error object inside the stream',
    responses: [{ events: [textChunk('Let me'), errorChunk('the model crashed')] }],
    types: ['thinking', 'error'],
    requests: 1,
  },
];

describe.each(testTargets())('Chat Completions quirks over a real socket on $name', (target) => {
  const h = useTestApp(target, {
    planner: createOpenAIPlanner({
      baseUrl: llm.baseUrl,
      model: 'fake-model',
      tools: createBuiltinTools(createLedger()),
      maxRetries: 1,
    }),
  });

  it.each(fixtures)('$name', async (fixture) => {
    const { token, sessionId, socket } = await openUserSession(h.app, 'alice');
    llm.enqueue(...fixture.responses);
    socket.send({ type: 'execute', command: 'do it' });
    const last = fixture.types.at(-1)!;
    await socket.waitFor((e) => e.type === last && (last !== 'error' || e.state === 'failed'));
    const answer = await http(h.app, 'GET', `/api/v1/sessions/${sessionId}/events`, { token });
    const log = (answer.body as { events: WireEvent[] }).events;
    expect(log.map((e) => e.type)).toEqual(fixture.types);
    expectContiguous(log);
    const echoed = log
      .filter((e) => e.type === 'tool_result')
      .map((e) => e.data.result.text as string);
    expect(echoed).toEqual(fixture.echoed ?? []);
    if (last === 'error') expect(log.at(-1)!.data.message).toContain('the model crashed');
    expect(llm.requests).toHaveLength(fixture.requests);
    expect(llm.pending()).toBe(0);
    await socket.close();
  });
});
