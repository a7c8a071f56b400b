import { describe, expect, it } from 'vitest';
import type { OutboundEvent } from '../protocol/outbound.ts';
import { errorCode, useSessionRuntime, watchSession } from '../../test/support/test-runtime.ts';

const DEV = 'dev';
const setup = useSessionRuntime();

const summary = (events: OutboundEvent[]) => events.map((e) => [e.seq, e.type, e.state]);

describe('an execution', () => {
  it('streams thinking, tool_call, tool_result, complete with seq 1..n and the state after each', async () => {
    const { runtime, session, watch, store } = await setup();
    expect(session.state()).toBe('idle');
    await runtime.send(session.id, { type: 'execute', command: 'echo hi' }, DEV);
    const complete = await watch.waitFor('complete');
    expect(summary(watch.events)).toEqual([
      [1, 'thinking', 'thinking'],
      [2, 'tool_call', 'executing'],
      [3, 'tool_result', 'thinking'],
      [4, 'complete', 'complete'],
    ]);
    const executionId = watch.events[0]!.execution_id;
    expect(executionId).toMatch(/^exec_/);
    expect(watch.events.every((e) => e.execution_id === executionId)).toBe(true);
    expect(watch.events.every((e) => e.session_id === session.id)).toBe(true);
    expect(complete.data).toMatchObject({ summary: 'echo ok: {"text":"hi"}', steps: 1 });
    expect(watch.events[2]!.data).toMatchObject({ tool: 'echo', result: { text: 'hi' } });
    expect(watch.invalid).toEqual([]);
    expect(session.state()).toBe('complete');
    expect(session.lastSeq()).toBe(4);

    await session.flush();
    const stored = await store.readEvents(session.id, 0, 100);
    expect(stored.map((e) => [e.seq, e.type, e.state])).toEqual(summary(watch.events));
    expect(await store.verifyChain(session.id)).toMatchObject({ ok: true, events: 4 });
    expect((await store.getSession(session.id))?.state).toBe('complete');
  });

  it('runs several executions one after another on one session', async () => {
    const { runtime, session, watch, ledger } = await setup();
    const commands = ['echo one', 'balance of alice', 'transfer 50 USD to bob', 'nonsense'];
    for (const [i, command] of commands.entries()) {
      await runtime.send(session.id, { type: 'execute', command }, DEV);
      await watch.waitFor(
        'complete',
        (_e) => watch.types().filter((t) => t === 'complete').length > i,
      );
    }
    const completes = watch.events.filter((e) => e.type === 'complete');
    expect(completes).toHaveLength(4);
    expect(new Set(completes.map((e) => e.execution_id)).size).toBe(4);
    expect(watch.events.map((e) => e.seq)).toEqual(watch.events.map((_e, i) => i + 1));
    expect(completes.map((e) => (e.data as { summary: string }).summary)).toEqual([
      'echo ok: {"text":"one"}',
      'get_balance ok: {"account":"alice","balance":1000}',
      expect.stringContaining('transfer ok'),
      expect.stringContaining('I did not understand "nonsense"'),
    ]);
    expect([ledger.balance('bob'), ledger.transfers()]).toEqual([550, 1]);
    expect(watch.types()).not.toContain('approval_required');
  });

  it('fails with a stored error event when a tool throws, and takes the next execute', async () => {
    const { runtime, session, watch } = await setup();
    await runtime.send(session.id, { type: 'execute', command: 'fail out of paper' }, DEV);
    const error = await watch.waitFor('error');
    expect(error.state).toBe('failed');
    expect(error.data).toMatchObject({ code: 'tool_failed', message: 'out of paper' });
    expect(session.state()).toBe('failed');
    await runtime.send(session.id, { type: 'execute', command: 'echo again' }, DEV);
    expect((await watch.waitFor('complete')).data).toMatchObject({ steps: 1 });
  });

  it('fails when a plan step names an unknown tool', async () => {
    const { runtime, session, watch } = await setup();
    const plan = [{ tool: 'launch_rockets', args: {} }];
    await runtime.send(session.id, { type: 'execute', command: 'go', plan }, DEV);
    const error = await watch.waitFor('error');
    expect(error.data).toMatchObject({ code: 'tool_failed' });
    expect(error.data.message).toContain('unknown tool "launch_rockets"');
  });
});

describe('refused commands', () => {
  it('refuses a command for a session that does not exist', async () => {
    const { runtime } = await setup();
    const send = runtime.send('ses_nope', { type: 'execute', command: 'echo hi' }, DEV);
    expect(await errorCode(send)).toBe('session_not_found');
  });

  it('refuses cancel when nothing runs, and execute while one runs', async () => {
    const { runtime, session, watch } = await setup();
    expect(await errorCode(runtime.send(session.id, { type: 'cancel' }, DEV))).toBe(
      'not_allowed_in_state',
    );
    await runtime.send(session.id, { type: 'execute', command: 'sleep 10000' }, DEV);
    await watch.waitFor('tool_call');
    const second = runtime.send(session.id, { type: 'execute', command: 'echo hi' }, DEV);
    expect(await errorCode(second)).toBe('not_allowed_in_state');
    await runtime.send(session.id, { type: 'cancel' }, DEV);
    await watch.waitFor('cancelled');
    expect(await errorCode(runtime.send(session.id, { type: 'cancel' }, DEV))).toBe(
      'not_allowed_in_state',
    );
    expect(watch.events.filter((e) => e.type === 'thinking')).toHaveLength(1);
  });

  it('refuses cancel once the execution is complete', async () => {
    const { runtime, session, watch } = await setup();
    await runtime.send(session.id, { type: 'execute', command: 'echo hi' }, DEV);
    await watch.waitFor('complete');
    expect(await errorCode(runtime.send(session.id, { type: 'cancel' }, DEV))).toBe(
      'not_allowed_in_state',
    );
    expect(session.state()).toBe('complete');
  });

  it('refuses an approval the session is not waiting on (idle session, stale pending row)', async () => {
    const { runtime, session, store } = await setup();
    await store.createApproval({
      request_id: 'req_stale',
      session_id: session.id,
      execution_id: 'exec_old',
      call_id: 'call_old',
      tool: 'transfer',
      args: { to: 'alice', amount: 500, currency: 'USD' },
      edited_args: null,
      reason: 'old',
      status: 'pending',
      decided_by: null,
      decided_at: null,
      decision_reason: null,
      expires_at: '2030-01-01T00:00:00.000Z',
      created_at: '2026-01-01T00:00:00.000Z',
      subagent_id: null,
    });
    const approve = runtime.send(session.id, { type: 'approve', request_id: 'req_stale' }, DEV);
    expect(await errorCode(approve)).toBe('not_allowed_in_state');
    // Refused before anything was committed: the request is still pending.
    expect((await store.getApproval('req_stale'))?.status).toBe('pending');
  });

  it('answers approval_not_found for an unknown request id, in any state', async () => {
    const { runtime, session } = await setup();
    const approve = runtime.send(session.id, { type: 'approve', request_id: 'req_nope' }, DEV);
    expect(await errorCode(approve)).toBe('approval_not_found');
    const reject = runtime.send(session.id, { type: 'reject', request_id: 'req_nope' }, DEV);
    expect(await errorCode(reject)).toBe('approval_not_found');
  });

  it("refuses another session's approval", async () => {
    const { runtime, session, watch } = await setup();
    await runtime.send(session.id, { type: 'execute', command: 'transfer 500 USD to bob' }, DEV);
    const { data } = await watch.waitFor('approval_required');
    const other = await runtime.createSession(DEV);
    const approve = runtime.send(other.id, { type: 'approve', request_id: data.request_id }, DEV);
    expect(await errorCode(approve)).toBe('approval_not_found');
    expect(session.pendingApprovals().map((p) => p.request_id)).toEqual([data.request_id]);
  });
});

describe('subscribe(afterSeq)', () => {
  it('replays stored events after the seq, then goes live, with no gap or duplicate', async () => {
    const { runtime, session, watch } = await setup();
    await runtime.send(session.id, { type: 'execute', command: 'echo one' }, DEV);
    await watch.waitFor('complete');

    const late = await watchSession(session, 2);
    expect(late.events.map((e) => e.seq)).toEqual([3, 4]);
    expect(late.events).toEqual(watch.events.slice(2));

    await runtime.send(session.id, { type: 'execute', command: 'echo two' }, DEV);
    await late.waitFor('complete', (e) => e.seq > 4);
    expect(late.events.map((e) => e.seq)).toEqual([3, 4, 5, 6, 7, 8]);
    expect(late.events).toEqual(watch.events.slice(2));
  });

  it('loses nothing when it subscribes while events are being produced', async () => {
    const { runtime, session, watch } = await setup();
    const plan = Array.from({ length: 20 }, (_v, i) => ({ tool: 'echo', args: { text: `${i}` } }));
    await runtime.send(session.id, { type: 'execute', command: 'many', plan }, DEV);
    const joiners = [];
    for (let i = 0; i < 5; i++) {
      joiners.push(await watchSession(session, 0));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await watch.waitFor('complete');
    const all = watch.events.map((e) => e.seq);
    expect(all).toEqual(all.map((_s, i) => i + 1));
    expect(all.length).toBe(1 + 20 * 2 + 1); // thinking, (tool_call, tool_result) x 20, complete
    for (const joiner of joiners) {
      await joiner.waitFor('complete');
      expect(joiner.events.map((e) => e.seq)).toEqual(all);
    }
  });

  it('gives nothing old to a subscriber that is up to date', async () => {
    const { runtime, session, watch } = await setup();
    await runtime.send(session.id, { type: 'execute', command: 'echo one' }, DEV);
    await watch.waitFor('complete');
    const live = await watchSession(session, session.lastSeq());
    expect(live.events).toEqual([]);
    await runtime.send(session.id, { type: 'execute', command: 'echo two' }, DEV);
    await live.waitFor('complete');
    expect(live.events.map((e) => e.seq)).toEqual([5, 6, 7, 8]);
  });
});
