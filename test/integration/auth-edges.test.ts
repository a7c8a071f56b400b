import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { createSession, http, signToken, TEST_SECRET } from '../support/test-app.ts';
import { connect } from '../support/ws-client.ts';
import { refusedUpgrade, useTestApp } from './harness.ts';

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** A token with `alg: none`: no signature at all. */
const unsigned = (sub: string) =>
  `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub, iat: now(), exp: now() + 3600 })}.`;

/** A validly signed token without `sub`. */
const withoutSubject = () =>
  new SignJWT({ roles: ['approver'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(TEST_SECRET));

describe.each(testTargets())('auth edge cases (AUTH_MODE=jwt) on $name', (target) => {
  const h = useTestApp(target);

  it('refuses alg none, a token without sub and an expired token, on REST and on the socket', async () => {
    const owner = await signToken('edge-owner');
    const sessionId = await createSession(h.app, owner);
    const cases = [
      { token: unsigned('edge-owner'), code: 'token_invalid' },
      { token: await withoutSubject(), code: 'token_invalid' },
      { token: await signToken('edge-owner', { expiresIn: now() - 10 }), code: 'token_expired' },
    ];
    for (const { token, code } of cases) {
      const rest = await http(h.app, 'GET', `/api/v1/sessions/${sessionId}`, { token });
      expect([rest.status, rest.body?.error?.code]).toEqual([401, code]);
      const socket = await refusedUpgrade(connect(h.app, { session_id: sessionId, token }));
      expect([socket.status, socket.body.error?.code]).toEqual([401, code]);
    }
  });

  it('accepts ?token= on the socket upgrade only, never on REST', async () => {
    const token = await signToken('edge-query');
    const sessionId = await createSession(h.app, token);
    const rest = await fetch(`${h.app.url}/api/v1/sessions/${sessionId}?token=${token}`);
    expect(rest.status).toBe(401);
    const socket = await connect(h.app, { session_id: sessionId, token });
    await socket.waitFor('connected');
    await socket.close();
  });

  it('closes a socket with 4001 when its token expires', async () => {
    const token = await signToken('edge-expiry', { expiresIn: now() + 2 });
    const sessionId = await createSession(h.app, token);
    const socket = await connect(h.app, { session_id: sessionId, token });
    await socket.waitFor('connected');
    const closed = await socket.closed;
    expect(closed).toEqual({ code: 4001, reason: 'token expired' });
  });
});
