import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { createLogger } from '../../src/logger.ts';
import type { App } from '../support/test-app.ts';

import { TEST_SECRET, createSession, http, signToken, startTestApp } from '../support/test-app.ts';
import { connect } from '../support/ws-client.ts';
import { openUserSession, refusedUpgrade, useTestApp } from './harness.ts';

const OTHER_SECRET = 'another-secret-that-is-also-32-characters-long';

describe.each(testTargets())(
  'auth (AUTH_MODE=jwt) and token hygiene on $name',
  ({ backend, transport }) => {
    // Everything the apps of this file log, at trace level, through the project's logger.
    const log: string[] = [];
    const logger = createLogger(
      'trace',
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          log.push(chunk.toString());
          done();
        },
      }),
    );
    const tokens = new Set<string>();
    const sign = async (sub: string, options?: Parameters<typeof signToken>[1]) => {
      const token = await signToken(sub, options);
      tokens.add(token);
      return token;
    };
    const h = useTestApp({ backend, transport }, { logger });
    let owned: { token: string; sessionId: string };
    beforeAll(async () => {
      const token = await sign('alice');
      owned = { token, sessionId: await createSession(h.app, token) };
    });

    describe('refuses a token it cannot trust with 401', () => {
      const cases: Array<[string, () => Promise<string | undefined>, string]> = [
        ['no token', () => Promise.resolve(undefined), 'token_missing'],
        ['a bad signature', () => sign('alice', { secret: OTHER_SECRET }), 'token_invalid'],
        [
          'an expired token',
          () => sign('alice', { expiresIn: nowSeconds() - 60 }),
          'token_expired',
        ],
        ['garbage', () => Promise.resolve('not.a.jwt'), 'token_invalid'],
      ];
      it.each(cases)('on the socket upgrade: %s', async (_name, token, code) => {
        const value = await token();
        const answer = await refusedUpgrade(
          connect(h.app, { session_id: owned.sessionId, ...(value ? { token: value } : {}) }),
        );
        expect(answer).toEqual({
          status: 401,
          body: { error: { code, message: expect.any(String) } },
        });
      });
      it.each(cases)('on REST: %s', async (_name, token, code) => {
        const value = await token();
        const options = value ? { token: value } : {};
        for (const [method, path] of [
          ['POST', '/api/v1/sessions'],
          ['GET', `/api/v1/sessions/${owned.sessionId}`],
          ['GET', '/api/v1/approvals'],
        ] as const) {
          const answer = await http(h.app, method, path, options);
          expect(answer.status, `${method} ${path}`).toBe(401);
          expect(answer.body.error.code).toBe(code);
        }
      });
    });

    it('takes the token from the Authorization header or from ?token=', async () => {
      const viaQuery = await connect(h.app, { session_id: owned.sessionId, token: owned.token });
      const viaHeader = await connect(
        h.app,
        { session_id: owned.sessionId },
        { authorization: `Bearer ${owned.token}` },
      );
      for (const socket of [viaQuery, viaHeader]) {
        const connected = await socket.waitFor('connected');
        expect(connected.data.user_id).toBe('alice');
      }
      await Promise.all([viaQuery.close(), viaHeader.close()]);
    });

    it("answers another user's session exactly like an unknown one (404)", async () => {
      const bob = await sign('bob');
      const upgrade = await refusedUpgrade(
        connect(h.app, { session_id: owned.sessionId, token: bob }),
      );
      const unknown = await refusedUpgrade(connect(h.app, { session_id: 'ses_nope', token: bob }));
      expect(upgrade.status).toBe(404);
      expect(upgrade.body.error?.code).toBe(unknown.body.error?.code);
      for (const path of [
        `/api/v1/sessions/${owned.sessionId}`,
        `/api/v1/sessions/${owned.sessionId}/events`,
      ]) {
        const answer = await http(h.app, 'GET', path, { token: bob });
        expect(answer.status).toBe(404);
        expect(answer.body.error.code).toBe('session_not_found');
      }
    });

    it("lets an approver connect to and decide another user's session", async () => {
      const { socket: alice, sessionId } = await openUserSession(h.app, 'alice');
      const approver = await sign('carol', { roles: ['approver'] });
      const carol = await connect(h.app, { session_id: sessionId, token: approver });
      expect((await carol.waitFor('connected')).data.user_id).toBe('carol');
      const transfers = h.app.ledger.transfers();
      alice.send({ type: 'execute', command: 'transfer 175 USD to bob' });
      const required = await carol.waitFor('approval_required');
      carol.send({ type: 'approve', request_id: required.data.request_id });
      const approved = await alice.waitFor('approved');
      expect(approved.data.decided_by).toBe('carol');
      await Promise.all([alice.waitFor('complete'), carol.waitFor('complete')]);
      expect(h.app.ledger.transfers()).toBe(transfers + 1);
      const session = await http(h.app, 'GET', `/api/v1/sessions/${sessionId}`, {
        token: approver,
      });
      expect(session.body).toMatchObject({ owner: 'alice', state: 'complete' });
      await Promise.all([alice.close(), carol.close()]);
    });

    describe('with JWT_AUDIENCE set', () => {
      let strict: App;
      beforeAll(async () => {
        strict = await startTestApp({
          store: h.db.store,
          logger,
          env: { JWT_AUDIENCE: 'hitl-api' },
        });
      });
      afterAll(async () => {
        await strict?.close();
      });

      it('accepts only tokens for that audience', async () => {
        const right = await sign('dana', { audience: 'hitl-api' });
        const wrong = await sign('dana', { audience: 'someone-else' });
        const none = await sign('dana');
        const sessionId = await createSession(strict, right);
        for (const token of [wrong, none]) {
          const answer = await refusedUpgrade(connect(strict, { session_id: sessionId, token }));
          expect(answer).toMatchObject({ status: 401, body: { error: { code: 'token_invalid' } } });
          expect(
            (await http(strict, 'GET', `/api/v1/sessions/${sessionId}`, { token })).status,
          ).toBe(401);
        }
        const socket = await connect(strict, { session_id: sessionId, token: right });
        expect((await socket.waitFor('connected')).data.user_id).toBe('dana');
        await socket.close();
      });
    });

    // Last, so it sees everything this file logged: every token above went through the server.
    it('never writes a token or the secret to the log', async () => {
      const { sessionId, token } = await openUserSession(h.app, 'frank');
      tokens.add(token);
      const viaHeader = await connect(
        h.app,
        { session_id: sessionId },
        { authorization: `Bearer ${token}` },
      );
      await viaHeader.waitFor('connected');
      viaHeader.send({ type: 'execute', command: 'echo logged' });
      await viaHeader.waitFor('complete');
      await viaHeader.close();
      const forged = await sign('frank', { secret: OTHER_SECRET });
      expect(
        (await http(h.app, 'GET', `/api/v1/sessions/${sessionId}`, { token: forged })).status,
      ).toBe(401);

      const text = log.join('');
      expect(text).toContain('"msg":"listening"');
      expect(text).toContain('socket open');
      expect(text).toContain('"userId":"frank"');
      expect(tokens.size).toBeGreaterThanOrEqual(8);
      for (const leaked of tokens) {
        expect(text).not.toContain(leaked);
        expect(text).not.toContain(leaked.split('.')[2]);
      }
      expect(text).not.toContain(TEST_SECRET);
    });
  },
);

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
