import { describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { http, type App } from '../support/test-app.ts';
import type { WireEvent } from '../support/ws-client.ts';
import {
  expectContiguous,
  expectWireValid,
  openUserSession,
  sessionEvents,
  useTestApp,
} from './harness.ts';

/**
 * A subagent's end is `subagent_end`: its own `complete` (or the `error` that fails it) must not
 * reach the session's stream, where a client waiting for `complete` would stop early.
 */

const TERMINAL = new Set(['complete', 'cancelled']);
const isSessionEnd = (e: WireEvent) =>
  (TERMINAL.has(e.type) || (e.type === 'error' && e.state === 'failed')) &&
  e.data.subagent_id === undefined;

async function storedEvents(app: App, sessionId: string, token: string): Promise<WireEvent[]> {
  const log = await http<{ events: WireEvent[] }>(
    app,
    'GET',
    `/api/v1/sessions/${sessionId}/events?after_seq=0&limit=1000`,
    { token },
  );
  return log.body.events;
}

const inner = {
  tool: 'delegate',
  args: { task: 'inner', plan: [{ tool: 'echo', args: { text: 'deep' } }] },
};
const outer = {
  tool: 'delegate',
  args: {
    task: 'pay and check',
    plan: [inner, { tool: 'transfer', args: { to: 'bob', amount: 250, currency: 'USD' } }],
  },
};

describe.each(testTargets())('delegate on $name', ({ backend, transport }) => {
  const h = useTestApp({ backend, transport });

  it("a delegate flow has exactly one complete, the session's, last", async () => {
    const { token, sessionId, socket } = await openUserSession(h.app);
    socket.send({
      type: 'execute',
      command: 'delegate twice',
      plan: [outer, { tool: 'echo', args: { text: 'after' } }],
    });
    // The subagent's transfer asks for approval on the session; decide it like any other.
    const required = await socket.waitFor('approval_required');
    expect(required.data.subagent_id).toMatch(/^sub_/);
    socket.send({ type: 'approve', request_id: required.data.request_id });
    // The first complete a client sees must be the end of the whole execution.
    const first = await socket.waitFor('complete');
    expect(first.state).toBe('complete');
    expect(first.data).not.toHaveProperty('subagent_id');
    expect(first.data.summary).toContain('after');

    const events = sessionEvents(socket.events);
    expectWireValid(events);
    expectContiguous(events);
    expect(events.filter((e) => e.type === 'complete')).toEqual([first]);
    expect(events.at(-1)).toEqual(first);
    expect(events.filter(isSessionEnd)).toEqual([first]);

    // Both subagents started and ended; the outer one's work is marked with its id.
    const ends = events.filter((e) => e.type === 'subagent_end');
    expect(ends.map((e) => e.data.status as string)).toEqual(['complete', 'complete']);
    expect(ends.every((e) => typeof e.data.summary === 'string')).toBe(true);
    const outerId = events.find((e) => e.type === 'subagent_start')?.data.subagent_id as string;
    const marked = events.filter((e) => e.data.subagent_id === outerId).map((e) => e.type);
    for (const type of ['thinking', 'tool_call', 'tool_result', 'approval_required', 'approved']) {
      expect(marked, type).toContain(type);
    }
    expect(marked).not.toContain('complete');

    // The audit log holds exactly what the socket saw.
    const essence = (e: WireEvent) => ({ seq: e.seq, type: e.type, data: e.data as unknown });
    expect((await storedEvents(h.app, sessionId, token)).map(essence)).toEqual(events.map(essence));
    await socket.close();
  });

  it("a failed subagent ends with subagent_end, then the session's one error", async () => {
    const { token, sessionId, socket } = await openUserSession(h.app);
    socket.send({
      type: 'execute',
      command: 'delegate a failure',
      plan: [
        {
          tool: 'delegate',
          args: {
            task: 'doomed',
            plan: [{ tool: 'fail', args: { message: 'the ledger is closed' } }],
          },
        },
        { tool: 'echo', args: { text: 'never' } },
      ],
    });
    const failed = await socket.waitFor((e) => e.type === 'error' && e.state === 'failed');
    expect(failed.data).toMatchObject({ code: 'subagent_failed', message: 'the ledger is closed' });
    expect(failed.data).not.toHaveProperty('subagent_id');

    const events = sessionEvents(socket.events);
    expectWireValid(events);
    expect(events.filter((e) => e.type === 'error')).toEqual([failed]);
    expect(events.at(-1)).toEqual(failed);
    expect(events.filter(isSessionEnd)).toEqual([failed]);
    const end = events.find((e) => e.type === 'subagent_end');
    expect(end?.data).toMatchObject({ status: 'failed', summary: 'the ledger is closed' });
    expect(events.filter((e) => e.type === 'complete')).toEqual([]);
    expect((await storedEvents(h.app, sessionId, token)).map((e) => e.type)).toEqual(
      events.map((e) => e.type),
    );
    await socket.close();
  });
});
