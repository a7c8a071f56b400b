import { describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { http } from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import { expectWireValid, openUserSession, useTestApp } from './harness.ts';

/** A ping after the bad frame: the connection must still be usable. */
async function expectUsable(socket: TestSocket, id: string): Promise<void> {
  const from = socket.events.length;
  socket.send({ type: 'ping', id });
  const pong = await socket.waitFor('pong', { from });
  expect(pong.data).toEqual({ id });
}

const BAD_FRAMES: Array<{
  name: string;
  send: (socket: TestSocket) => void;
  code: string;
  id?: string;
}> = [
  { name: 'invalid JSON', send: (s) => s.sendRaw('{"type":"ping",'), code: 'invalid_json' },
  {
    name: 'an unknown type',
    send: (s) => s.send({ type: 'launch', id: 'u1' }),
    code: 'unknown_type',
    id: 'u1',
  },
  {
    name: 'approve without request_id',
    send: (s) => s.send({ type: 'approve', id: 'a1' }),
    code: 'invalid_message',
    id: 'a1',
  },
  {
    name: 'execute with a bad plan',
    send: (s) => s.send({ type: 'execute', command: 'x', plan: [], id: 'p1' }),
    code: 'invalid_message',
    id: 'p1',
  },
  { name: 'a JSON array', send: (s) => s.send([1, 2]), code: 'invalid_message' },
  {
    name: 'a binary frame',
    send: (s) => s.sendRaw(Buffer.from('{"type":"ping"}'), true),
    code: 'binary_not_supported',
  },
];

describe.each(testTargets())('bad input on $name', ({ backend, transport }) => {
  const h = useTestApp({ backend, transport });

  it.each(BAD_FRAMES)('answers $name with $code and stays open', async (frame) => {
    const { socket } = await openUserSession(h.app);
    const from = socket.events.length;
    frame.send(socket);
    const error = await socket.waitFor('error', { from });
    expect(error.data.code).toBe(frame.code);
    expect(typeof error.data.message).toBe('string');
    if (frame.id) expect(error.data.id).toBe(frame.id);
    else expect(error.data).not.toHaveProperty('id');
    expect(error.seq).toBe(0);
    expect(error.state).toBe('idle');
    await expectUsable(socket, `after-${frame.code}`);
    expectWireValid(socket.events);
    await socket.close();
  });

  it('answers the sender only, stores nothing, and carries the last stored seq', async () => {
    const { token, sessionId, socket } = await openUserSession(h.app);
    const other = await connect(h.app, { session_id: sessionId, token });
    await other.waitFor('connected');
    socket.send({ type: 'execute', command: 'echo stored' });
    await Promise.all([socket.waitFor('complete'), other.waitFor('complete')]);
    const lastSeq = socket.events.at(-1)?.seq;

    const from = socket.events.length;
    socket.send({ type: 'nope', id: 'n1' });
    socket.send({ type: 'ping', id: 'p1' });
    socket.send({ type: 'cancel', id: 'c1' });
    const refused = await socket.waitFor('error', { from: from + 1 });
    expect(refused.data).toMatchObject({ code: 'not_allowed_in_state', id: 'c1' });
    const replies = socket.events.slice(from);
    expect(replies.map((e) => [e.type, e.seq])).toEqual([
      ['error', lastSeq],
      ['pong', lastSeq],
      ['error', lastSeq],
    ]);
    expect(replies[1]?.data).toEqual({ id: 'p1' });

    // The other socket saw none of it: its next event is its own pong.
    const otherFrom = other.events.length;
    other.send({ type: 'ping' });
    await other.waitFor('pong', { from: otherFrom });
    expect(other.events.slice(otherFrom).map((e) => e.type)).toEqual(['pong']);
    expect(other.events.at(-1)?.data).toEqual({});

    const log = await http<{ events: WireEvent[]; last_seq: number }>(
      h.app,
      'GET',
      `/api/v1/sessions/${sessionId}/events`,
      { token },
    );
    expect(log.body.events.map((e) => e.type)).not.toContain('error');
    expect(log.body.last_seq).toBe(lastSeq);
    await Promise.all([socket.close(), other.close()]);
  });

  it('answers ping with pong, echoing the id', async () => {
    const { socket } = await openUserSession(h.app);
    socket.send({ type: 'ping', id: 'ping-1' });
    const pong = await socket.waitFor('pong');
    expect(pong).toMatchObject({ type: 'pong', seq: 0, state: 'idle', data: { id: 'ping-1' } });
    expectWireValid([pong]);
    await socket.close();
  });

  it('answers a message over 64 KiB with message_too_large; the connection stays usable', async () => {
    const { socket } = await openUserSession(h.app);
    socket.send({ type: 'execute', command: 'x'.repeat(64 * 1024) });
    const error = await socket.waitFor('error');
    expect(error.data).toMatchObject({ code: 'message_too_large' });
    expect(error.seq).toBe(0);
    await expectUsable(socket, 'after-big');

    // Just under the limit is a frame like any other (here: an id that is too long).
    socket.send({ type: 'ping', id: 'y'.repeat(60 * 1024) });
    const invalid = await socket.waitFor(
      (e) => e.type === 'error' && e.data.code === 'invalid_message',
    );
    expect(invalid.data.message).toMatch(/id/);
    await socket.close();
  });

  it('fails a connection whose text frame is not UTF-8 (RFC 6455); other sockets are unaffected', async () => {
    const { token, sessionId, socket } = await openUserSession(h.app);
    const bystander = await connect(h.app, { session_id: sessionId, token });
    await bystander.waitFor('connected');
    socket.sendRaw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), false);
    // uWS drops it without a close frame (1006); the portable transport sends 1007.
    const closed = await socket.closed;
    expect(closed.code).toBe(transport === 'uws' ? 1006 : 1007);
    expect(socket.events.filter((e) => e.type !== 'connected')).toEqual([]);
    await expectUsable(bystander, 'utf8-bystander');
    await bystander.close();
  });

  it('drops a socket that sends a frame over 1 MiB; other sockets are unaffected', async () => {
    const { token, sessionId, socket } = await openUserSession(h.app);
    const bystander = await connect(h.app, { session_id: sessionId, token });
    await bystander.waitFor('connected');
    socket.send({ type: 'ping', id: 'x'.repeat(1024 * 1024) });
    // uWS drops the connection without a close frame (1006); the portable transport sends
    // 1009, "message too big" (docs/protocol.md, "Close codes").
    const closed = await socket.closed;
    expect(closed.code).toBe(transport === 'uws' ? 1006 : 1009);
    expect(socket.events.filter((e) => e.type !== 'connected')).toEqual([]);
    await expectUsable(bystander, 'still-here');
    await bystander.close();
  });
});
