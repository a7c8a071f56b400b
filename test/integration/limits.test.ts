import { describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { createSession, http, signToken } from '../support/test-app.ts';
import { connect, type TestSocket } from '../support/ws-client.ts';
import { openUserSession, refusedUpgrade, useTestApp } from './harness.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(testTargets())('per-user limits on $name', (target) => {
  const h = useTestApp(target, {
    limits: {
      maxSocketsPerUser: 2,
      messageRate: 5,
      messageBurst: 5,
      sessionsPerMinute: 4,
      maxLiveSessionsPerUser: 1_000,
    },
  });

  it('refuses a third socket of one user with 429 across sessions, not another user; recovers', async () => {
    const token = await signToken('sockets-user');
    const [a, b] = [await createSession(h.app, token), await createSession(h.app, token)];
    const first = await connect(h.app, { session_id: a, token });
    const second = await connect(h.app, { session_id: b, token });
    await Promise.all([first.waitFor('connected'), second.waitFor('connected')]);
    const third = await refusedUpgrade(connect(h.app, { session_id: a, token }));
    expect(third).toMatchObject({ status: 429, body: { error: { code: 'too_many_connections' } } });

    const other = await openUserSession(h.app, 'sockets-other');
    await other.socket.close();
    await first.close();
    const again = await connect(h.app, { session_id: a, token });
    await again.waitFor('connected');
    await Promise.all([again.close(), second.close()]);
  });

  it('answers messages over the rate with rate_limited and retry_after_ms, per user; then recovers', async () => {
    const { token, sessionId, socket } = await openUserSession(h.app, 'rate-user');
    const twin = await connect(h.app, { session_id: sessionId, token });
    await twin.waitFor('connected');
    // The bucket is the user's: five on one socket, the sixth on the other is refused.
    for (let i = 0; i < 5; i++) socket.send({ type: 'ping', id: `p${i}` });
    await socket.waitFor((e) => e.type === 'pong' && e.data.id === 'p4');
    twin.send({ type: 'ping', id: 'over' });
    const refused = await twin.waitFor('error');
    expect(refused.data).toMatchObject({ code: 'rate_limited' });
    expect(refused.data.retry_after_ms).toBeGreaterThan(0);
    expect(refused.data.retry_after_ms).toBeLessThanOrEqual(200);

    const bystander = await openUserSession(h.app, 'rate-other');
    bystander.socket.send({ type: 'ping', id: 'free' });
    await bystander.socket.waitFor((e) => e.type === 'pong' && e.data.id === 'free');

    await sleep(Number(refused.data.retry_after_ms) + 20);
    twin.send({ type: 'ping', id: 'later' });
    await twin.waitFor((e) => e.type === 'pong' && e.data.id === 'later');
    await Promise.all([socket.close(), twin.close(), bystander.socket.close()]);
  });

  it('closes a socket that keeps going at ten times the rate with 1008', async () => {
    const { socket } = await openUserSession(h.app, 'flood-user');
    for (let i = 0; i < 200; i++) socket.send({ type: 'ping', id: `f${i}` });
    const closed = await socket.closed;
    expect(closed.code).toBe(1008);
    const errors = socket.events.filter((e) => e.type === 'error');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.data.code === 'rate_limited')).toBe(true);
  });

  it('refuses sessions past the per-minute quota with 429, quota_exceeded and Retry-After', async () => {
    const token = await signToken('quota-user');
    for (let i = 0; i < 4; i++) await createSession(h.app, token);
    const refused = await fetch(`${h.app.url}/api/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({ error: { code: 'quota_exceeded' } });
    // Another user is not affected.
    const other = await http(h.app, 'POST', '/api/v1/sessions', { token: await signToken('q2') });
    expect(other.status).toBe(201);
  });

  it('counts REST decisions in the same bucket as socket messages', async () => {
    const token = await signToken('rest-rate-user');
    const socket: TestSocket = (await openUserSession(h.app, 'rest-rate-user')).socket;
    for (let i = 0; i < 5; i++) socket.send({ type: 'ping', id: `r${i}` });
    await socket.waitFor((e) => e.type === 'pong' && e.data.id === 'r4');
    const refused = await http(h.app, 'POST', '/api/v1/approvals/req_none/approve', { token });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: { code: 'rate_limited' } });
    await socket.close();
  });
});
