import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { builtinTools, defineTool } from '../../src/index.ts';
import { testTargets } from '../support/targets.ts';
import { http } from '../support/test-app.ts';
import { openUserSession, useTestApp } from './harness.ts';

// A tool's result (or a model's text) may hold what PostgreSQL's jsonb refuses: stored with
// U+FFFD in its place instead of breaking the session.
const garble = defineTool({
  name: 'garble',
  description: 'Returns text with a NUL and a lone surrogate in it.',
  args: z.object({}),
  needsApproval: false,
  idempotent: true,
  run: () => Promise.resolve({ text: 'a\u0000b\ud800c', ['k\udc00']: 1, pair: '😀' }),
});

describe.each(testTargets())('unstorable tool output on $name', (target) => {
  const h = useTestApp(target, { tools: [...builtinTools(), garble] });

  it('stores and sends it with U+FFFD in place of NUL and lone surrogates; the session goes on', async () => {
    const { token, sessionId, socket } = await openUserSession(h.app);
    socket.send({ type: 'execute', command: 'garble', plan: [{ tool: 'garble', args: {} }] });
    const result = await socket.waitFor('tool_result');
    expect(result.data.result).toEqual({ text: 'a\uFFFDb\uFFFDc', ['k\uFFFD']: 1, pair: '😀' });
    await socket.waitFor('complete');
    const log = await http(h.app, 'GET', `/api/v1/sessions/${sessionId}/events`, { token });
    const stored = (log.body as { events: { type: string; data: { result?: unknown } }[] }).events;
    expect(stored.find((e) => e.type === 'tool_result')?.data.result).toEqual(result.data.result);
    await socket.close();
  });
});
