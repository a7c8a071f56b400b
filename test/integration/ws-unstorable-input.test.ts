import { describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { http, type App } from '../support/test-app.ts';
import type { TestSocket, WireEvent } from '../support/ws-client.ts';
import { expectWireValid, openUserSession, useTestApp } from './harness.ts';

/**
 * Input that JSON allows but the audit log cannot hold, or that would take the decoder down:
 * a lone UTF-16 surrogate (PostgreSQL refuses `\ud800` in json) and nesting thousands deep.
 * Each is refused as `invalid_message` at the edge; nothing is stored, the socket stays open.
 */

/** `{"a":{"a":...{}}}`, `levels` objects deep, as text (no recursion to build or send it). */
function nestedText(levels: number): string {
  return '{"a":'.repeat(levels - 1) + '{}' + '}'.repeat(levels - 1);
}

async function storedTypes(app: App, sessionId: string, token: string): Promise<string[]> {
  const log = await http<{ events: WireEvent[] }>(
    app,
    'GET',
    `/api/v1/sessions/${sessionId}/events?after_seq=0&limit=1000`,
    { token },
  );
  return log.body.events.map((e) => e.type);
}

/** After the refusal the session still works: a command runs to `complete`. */
async function expectSessionWorks(socket: TestSocket): Promise<void> {
  const from = socket.events.length;
  socket.send({ type: 'execute', command: 'echo still fine' });
  const done = await socket.waitFor((e) => e.type === 'complete' || e.type === 'error', { from });
  expect(done.type).toBe('complete');
}

const REFUSED: Array<{ name: string; frame: string; field: RegExp; why: RegExp }> = [
  {
    name: 'a lone high surrogate in the command',
    frame: '{"type":"execute","command":"echo \\ud800","id":"s1"}',
    field: /command/,
    why: /surrogate/,
  },
  {
    name: 'a lone low surrogate in plan args',
    frame:
      '{"type":"execute","command":"x","plan":[{"tool":"echo","args":{"text":"a\\udc00b"}}],"id":"s1"}',
    field: /plan\.0\.args\.text/,
    why: /surrogate/,
  },
  {
    name: 'a lone surrogate in an args key',
    frame:
      '{"type":"execute","command":"x","plan":[{"tool":"echo","args":{"\\ud83d":"y"}}],"id":"s1"}',
    field: /plan\.0\.args/,
    why: /surrogate/,
  },
  {
    name: 'JSON nested 10,000 deep in plan args',
    frame: `{"type":"execute","command":"x","plan":[{"tool":"echo","args":${nestedText(10_000)}}],"id":"s1"}`,
    field: /plan\.0\.args/,
    why: /32 levels/,
  },
  {
    name: 'arrays nested 20,000 deep in plan args',
    frame: `{"type":"execute","command":"x","plan":[{"tool":"echo","args":{"t":${'['.repeat(20_000)}${']'.repeat(20_000)}}}],"id":"s1"}`,
    field: /plan\.0\.args\.t/,
    why: /32 levels/,
  },
];

describe.each(testTargets())('unstorable input on $name', ({ backend, transport }) => {
  const h = useTestApp({ backend, transport });

  it.each(REFUSED)(
    'refuses $name with invalid_message, stores nothing, stays open',
    async ({ frame, field, why }) => {
      const { token, sessionId, socket } = await openUserSession(h.app);
      const from = socket.events.length;
      socket.sendRaw(frame);
      const error = await socket.waitFor('error', { from });
      expect(error.data.code).toBe('invalid_message');
      expect(error.data.id).toBe('s1');
      expect(error.data.message).toMatch(field);
      expect(error.data.message).toMatch(why);
      expect(error.seq).toBe(0);
      expect(await storedTypes(h.app, sessionId, token)).toEqual([]);
      await expectSessionWorks(socket);
      expectWireValid(socket.events);
      await socket.close();
    },
  );

  it('accepts a surrogate pair (an emoji) and echoes it back intact', async () => {
    const { socket } = await openUserSession(h.app);
    socket.sendRaw('{"type":"execute","command":"echo \\ud83d\\ude00 ok"}');
    const result = await socket.waitFor('tool_result');
    expect(result.data.result).toEqual({ text: '😀 ok' });
    await socket.waitFor('complete');
    await socket.close();
  });

  it('refuses unstorable REST decision bodies; the approval stays pending and can be decided', async () => {
    const { token, sessionId, socket } = await openUserSession(h.app);
    socket.send({ type: 'execute', command: 'transfer 250 USD to alice' });
    const required = await socket.waitFor('approval_required');
    const requestId = required.data.request_id as string;
    const stored = await storedTypes(h.app, sessionId, token);

    const reject = await http<{ error: { code: string; message: string } }>(
      h.app,
      'POST',
      `/api/v1/approvals/${requestId}/reject`,
      { token, body: { reason: 'no \ud800 way' } },
    );
    expect(reject.status).toBe(400);
    expect(reject.body.error.code).toBe('invalid_message');
    expect(reject.body.error.message).toMatch(/reason/);

    const edit = await fetch(`${h.app.url}/api/v1/approvals/${requestId}/edit`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: `{"edited_args":${nestedText(10_000)}}`,
    });
    const editBody = (await edit.json()) as { error: { code: string; message: string } };
    expect(edit.status).toBe(400);
    expect(editBody.error.code).toBe('invalid_message');
    expect(editBody.error.message).toMatch(/edited_args/);

    expect(await storedTypes(h.app, sessionId, token)).toEqual(stored);
    const approve = await http(h.app, 'POST', `/api/v1/approvals/${requestId}/approve`, { token });
    expect(approve.status).toBe(200);
    await socket.waitFor('complete');
    await socket.close();
  });
});
