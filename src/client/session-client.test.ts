import { describe, expect, it } from 'vitest';
import type { OutboundEvent } from '../protocol/outbound.ts';
import { SessionClientError } from './errors.ts';
import { createSessionClient, socketUrl, type SessionClient } from './session-client.ts';
import type { TransportFactory, TransportRequest } from './transport.ts';

/** A scripted server: each connection attempt is answered by the test. */
function fakeServer(options: { closeLater?: boolean } = {}) {
  const attempts: { request: TransportRequest; sent: string[]; closed: number | null }[] = [];
  const refusals: SessionClientError[] = [];
  const factory: TransportFactory = (request) => {
    const refusal = refusals.shift();
    if (refusal) return Promise.reject(refusal);
    const attempt = { request, sent: [] as string[], closed: null as number | null };
    attempts.push(attempt);
    return Promise.resolve({
      send: (text) => void attempt.sent.push(text),
      close: (code) => {
        attempt.closed = code;
        // A real socket closes later: frames it had queued may still arrive before that.
        if (options.closeLater) setTimeout(() => request.events.close(code, ''), 10);
        else request.events.close(code, '');
      },
    });
  };
  const current = () => attempts[attempts.length - 1]!;
  return {
    factory,
    attempts,
    refusals,
    current,
    lastSeqAsked: () => new URL(current().request.url).searchParams.get('last_seq'),
    emit(event: OutboundEvent) {
      current().request.events.message(JSON.stringify(event));
    },
    sent: () => current().sent.map((text) => JSON.parse(text) as Record<string, unknown>),
    drop: () => current().request.events.close(1006, ''),
  };
}

const base = { session_id: 'ses_1', timestamp: '2026-01-01T00:00:00.000Z' } as const;
const connected = (lastSeq: number, state = 'idle' as const): OutboundEvent => ({
  type: 'connected',
  ...base,
  seq: lastSeq,
  state,
  data: { session_id: 'ses_1', user_id: 'u', state, last_seq: lastSeq, pending_approvals: [] },
});
const toolResult = (seq: number): OutboundEvent => ({
  type: 'tool_result',
  ...base,
  seq,
  state: 'thinking',
  data: { call_id: `call_${seq}`, tool: 'echo', result: seq },
});
const thinking = (seq: number, command: string): OutboundEvent => ({
  type: 'thinking',
  ...base,
  seq,
  state: 'thinking',
  execution_id: 'exec_1',
  data: { execution_id: 'exec_1', command, plan_steps: null },
});

/** The answer to the call `id`: its approval request was decided already. */
const alreadyDecided = (seq: number, id: string): OutboundEvent => ({
  type: 'error',
  ...base,
  seq,
  state: 'awaiting_approval',
  data: { code: 'approval_already_decided', message: 'already approved', id },
});

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 5));

async function started(server: ReturnType<typeof fakeServer>, lastSeq = 0) {
  const seqs: number[] = [];
  const client = createSessionClient({
    url: 'http://localhost:1',
    sessionId: 'ses_1',
    reconnect: { initialMs: 0, jitter: 0 },
    transport: server.factory,
    on: { tool_result: (e) => seqs.push(e.seq) },
  });
  const ready = client.connect();
  await tick();
  server.emit(connected(lastSeq));
  await ready;
  return { client, seqs };
}

async function reconnected(server: ReturnType<typeof fakeServer>, client: SessionClient) {
  await tick();
  expect(client.status).toBe('reconnecting');
  await tick();
}

describe('session client stream', () => {
  it('drops duplicates, and resyncs with last_seq over a hole', async () => {
    const server = fakeServer();
    const { client, seqs } = await started(server);
    server.emit(toolResult(1));
    server.emit(toolResult(2));
    server.emit(toolResult(2));
    server.emit(toolResult(4));
    await tick();
    expect(seqs).toEqual([1, 2]);
    expect(server.attempts[0]!.closed).toBe(4000);

    await reconnected(server, client);
    expect(server.lastSeqAsked()).toBe('2');
    server.emit(connected(4));
    for (const seq of [3, 4, 5]) server.emit(toolResult(seq));
    await tick();
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    expect(client.status).toBe('open');
    await client.close();
  });

  it('accepts a hole that the log itself has, after one resync', async () => {
    const server = fakeServer();
    const { client, seqs } = await started(server);
    server.emit(toolResult(2));
    await reconnected(server, client);
    server.emit(connected(3));
    server.emit(toolResult(2));
    server.emit(toolResult(3));
    await tick();
    expect(seqs).toEqual([2, 3]);
    expect(server.attempts).toHaveLength(2);
    await client.close();
  });

  it('reads nothing more from a socket it closes to resync', async () => {
    const server = fakeServer({ closeLater: true });
    const { client, seqs } = await started(server);
    const first = server.attempts[0]!;
    server.emit(toolResult(1));
    server.emit(toolResult(3));
    await tick();
    expect(first.closed).toBe(4000);
    // Still queued on the closing socket: the same hole again, which is not the log's.
    first.request.events.message(JSON.stringify(toolResult(3)));
    await tick();
    expect(seqs).toEqual([1]);
    await tick();
    await tick();
    expect(server.attempts).toHaveLength(2);
    expect(server.lastSeqAsked()).toBe('1');
    server.emit(connected(3));
    for (const seq of [2, 3]) server.emit(toolResult(seq));
    await tick();
    expect(seqs).toEqual([1, 2, 3]);
    await client.close();
  });

  it('sends queued calls only once caught up, and resends a ping lost in flight', async () => {
    const server = fakeServer();
    const { client } = await started(server, 3);
    const pong = client.ping();
    await tick();
    const [ping] = server.sent();
    server.drop();
    await reconnected(server, client);
    server.emit(connected(5));
    server.emit(toolResult(4));
    await tick();
    expect(server.sent()).toEqual([]);
    server.emit(toolResult(5));
    await tick();
    expect(server.sent()).toEqual([ping]);
    server.emit({
      type: 'pong',
      ...base,
      seq: 5,
      state: 'idle',
      data: { id: String(ping!['id']) },
    });
    expect((await pong).data.id).toBe(ping!['id']);
    await client.close();
  });

  it('takes a resent approve refused as already decided for made, once the request shows approved', async () => {
    const server = fakeServer();
    const { client } = await started(server, 3);
    const approving = client.approve('req_1');
    const other = client.approve('req_2');
    await tick();
    server.drop();
    await reconnected(server, client);
    server.emit(connected(3));
    await tick();
    const [first, second] = server.sent() as { id: string }[];
    // The first send was applied before the drop; its event comes after the refusal.
    server.emit(alreadyDecided(3, first!.id));
    server.emit(alreadyDecided(3, second!.id));
    const decided = (type: 'approved' | 'rejected', seq: number, request: string) =>
      server.emit({
        type,
        ...base,
        seq,
        state: 'executing',
        data: { request_id: request, call_id: 'call_1', decided_by: 'u', reason: 'no' },
      } as unknown as OutboundEvent);
    decided('approved', 4, 'req_1');
    // Decided the other way (by someone else): the refusal stands.
    decided('rejected', 5, 'req_2');
    expect((await approving).type).toBe('approved');
    await expect(other).rejects.toMatchObject({ code: 'approval_already_decided' });
    await client.close();
  });

  it('refuses an approve as already decided at once when it was sent only once', async () => {
    const server = fakeServer();
    const { client } = await started(server, 3);
    const approving = client.approve('req_1');
    await tick();
    const [sent] = server.sent() as { id: string }[];
    server.emit(alreadyDecided(3, sent!.id));
    await expect(approving).rejects.toMatchObject({ code: 'approval_already_decided' });
    await client.close();
  });

  it('settles an execute lost in flight from the replay, or reports connection_lost', async () => {
    const server = fakeServer();
    const { client } = await started(server);
    const seen = client.execute('echo a');
    const lost = client.execute('echo b');
    await tick();
    server.drop();
    await reconnected(server, client);
    server.emit(connected(1));
    server.emit(thinking(1, 'echo a'));
    expect((await seen).seq).toBe(1);
    const error = await lost.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'connection_lost' });
    expect(server.sent()).toEqual([]);
    await client.close();
  });

  it('closes for good on a permanent refusal while reconnecting', async () => {
    const server = fakeServer();
    const { client } = await started(server);
    server.refusals.push(new SessionClientError('session_not_found', 'gone', { status: 404 }));
    const pending = client.waitFor('complete');
    server.drop();
    const reason = await client.closed;
    expect(reason).toMatchObject({ code: 'session_not_found', status: 404 });
    await expect(pending).rejects.toMatchObject({ code: 'session_not_found' });
    expect(client.status).toBe('closed');
  });

  it('gives up after maxAttempts', async () => {
    const server = fakeServer();
    const client = createSessionClient({
      url: 'http://localhost:1',
      sessionId: 'ses_1',
      reconnect: { initialMs: 0, jitter: 0, maxAttempts: 2 },
      transport: server.factory,
    });
    const ready = client.connect();
    await tick();
    server.emit(connected(0));
    await ready;
    for (let i = 0; i < 3; i += 1) {
      server.refusals.push(new SessionClientError('connect_failed', 'refused'));
    }
    server.drop();
    expect(await client.closed).toMatchObject({ code: 'closed' });
    expect(server.refusals).toHaveLength(1);
  });
});

describe('socketUrl', () => {
  it('maps the server URL to the socket route', () => {
    expect(socketUrl('http://h:8000', 's 1', null)).toBe('ws://h:8000/api/v1/ws?session_id=s+1');
    expect(socketUrl('https://h/base/', 's', 7)).toBe(
      'wss://h/base/api/v1/ws?session_id=s&last_seq=7',
    );
    expect(socketUrl('ws://h/api/v1/ws?last_seq=1', 's', null)).toBe(
      'ws://h/api/v1/ws?session_id=s',
    );
  });
});
