import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memory-store.ts';
import type { Store } from '../../src/store/store.ts';
import { testTargets } from '../support/targets.ts';
import { createSession, http, signToken, startTestApp, type App } from '../support/test-app.ts';
import { openUserSession, useTestApp } from './harness.ts';

interface Row {
  id: string;
  owner: string;
  state: string;
  pending_approvals: number;
}

describe.each(testTargets())('inspection routes on $name', ({ backend, transport }) => {
  const h = useTestApp({ backend, transport });
  let dana: string;
  let erin: string;
  let approver: string;
  beforeAll(async () => {
    dana = await signToken('dana');
    erin = await signToken('erin');
    approver = await signToken('vera', { roles: ['approver'] });
  });

  /** Every page of the list, following next_cursor. */
  async function allPages(token: string, query: string, limit: number): Promise<Row[][]> {
    const pages: Row[][] = [];
    let cursor: string | null = null;
    do {
      const path: string = `/api/v1/sessions?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`;
      const answer = await http(h.app, 'GET', path, { token });
      expect(answer.status).toBe(200);
      pages.push(answer.body.sessions as Row[]);
      cursor = answer.body.next_cursor as string | null;
    } while (cursor !== null && pages.length < 50);
    return pages;
  }

  it('pages the caller’s sessions newest first, each exactly once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push(await createSession(h.app, dana));
    const pages = await allPages(dana, '', 2);
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    const listed = pages.flat();
    expect(listed.map((r) => r.id)).toEqual([...ids].reverse());
    expect(listed[0]).toMatchObject({ owner: 'dana', state: 'idle', pending_approvals: 0 });
  });

  it('lists only the caller’s own sessions; an approver sees everyone’s', async () => {
    const mine = await createSession(h.app, erin);
    const erinSees = (await allPages(erin, '', 200)).flat();
    expect(erinSees.map((r) => r.id)).toEqual([mine]);
    const danaSees = (await allPages(dana, '', 200)).flat();
    expect(danaSees.map((r) => r.id)).not.toContain(mine);
    expect(danaSees.every((r) => r.owner === 'dana')).toBe(true);
    const all = (await allPages(approver, '', 200)).flat();
    expect(all.map((r) => r.id)).toContain(mine);
    expect(new Set(all.map((r) => r.owner))).toEqual(new Set(['dana', 'erin']));
  });

  it('filters by state and by a pending approval, on the server', async () => {
    const { socket, sessionId } = await openUserSession(h.app, 'erin');
    socket.send({ type: 'execute', command: 'transfer 300 USD to bob' });
    await socket.waitFor('approval_required');
    const pending = (await allPages(erin, '&pending=true', 10)).flat();
    expect(pending).toEqual([
      expect.objectContaining({ id: sessionId, state: 'awaiting_approval', pending_approvals: 1 }),
    ]);
    const waiting = (await allPages(erin, '&state=awaiting_approval', 10)).flat();
    expect(waiting.map((r) => r.id)).toEqual([sessionId]);
    const none = (await allPages(erin, '&pending=false', 10)).flat();
    expect(none.map((r) => r.id)).not.toContain(sessionId);
    expect(none.length).toBe(1);
    await socket.close();
  });

  it.each([
    ['limit=0', 'invalid_query', /limit/],
    ['limit=abc', 'invalid_query', /limit/],
    ['limit=201', 'invalid_query', /limit/],
    ['state=sleeping', 'invalid_query', /state/],
    ['pending=yes', 'invalid_query', /pending/],
    ['colour=red', 'invalid_query', /colour/],
    ['cursor=not-a-cursor', 'invalid_cursor', /cursor/],
    [
      `cursor=${Buffer.from('["yesterday","x"]').toString('base64url')}`,
      'invalid_cursor',
      /cursor/,
    ],
  ])('answers ?%s with 400 %s', async (query, code, message) => {
    const answer = await http(h.app, 'GET', `/api/v1/sessions?${query}`, { token: dana });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe(code);
    expect(answer.body.error.message).toMatch(message);
  });

  it('refuses every inspection route without a token (401)', async () => {
    for (const path of ['/api/v1/sessions', '/api/v1/tools', '/api/v1/statechart', '/api/v1/me']) {
      const answer = await http(h.app, 'GET', path);
      expect(answer.status, path).toBe(401);
    }
  });

  it('verifies the audit chain of a visible session, and hides others’ (404)', async () => {
    const { socket, sessionId, token } = await openUserSession(h.app, 'dana');
    socket.send({ type: 'execute', command: 'echo hi' });
    await socket.waitFor('complete');
    const path = `/api/v1/sessions/${sessionId}/verify`;
    expect(await http(h.app, 'GET', path, { token })).toEqual({
      status: 200,
      body: { session_id: sessionId, ok: true, verified_through_seq: 4 },
    });
    expect((await http(h.app, 'GET', path, { token: approver })).status).toBe(200);
    const hidden = await http(h.app, 'GET', path, { token: erin });
    expect(hidden.status).toBe(404);
    expect(hidden.body.error.code).toBe('session_not_found');
    await socket.close();
  });

  it('describes the tools with their args as JSON Schema', async () => {
    const answer = await http(h.app, 'GET', '/api/v1/tools', { token: dana });
    expect(answer.status).toBe(200);
    const transfer = (answer.body.tools as Array<Record<string, any>>).find(
      (t) => t.name === 'transfer',
    );
    expect(transfer).toMatchObject({ approval: 'conditional', idempotent: false });
    expect(transfer?.args_schema).toMatchObject({
      type: 'object',
      required: ['to', 'amount', 'currency'],
      properties: { amount: { type: 'number', exclusiveMinimum: 0 } },
    });
  });

  it('serves the statechart from the machine definition, and who the caller is', async () => {
    const chart = await http(h.app, 'GET', '/api/v1/statechart', { token: dana });
    expect(chart.body.initial).toBe('idle');
    const paths = (chart.body.states as Array<{ path: string }>).map((s) => s.path);
    expect(paths).toEqual(expect.arrayContaining(['awaiting_approval', 'executing.subagent']));
    expect(chart.body.transitions).toContainEqual(
      expect.objectContaining({
        source: 'awaiting_approval',
        event: 'approve',
        target: 'executing',
      }),
    );
    const me = await http(h.app, 'GET', '/api/v1/me', { token: approver });
    expect(me.body).toEqual({ user_id: 'vera', roles: ['approver'], auth_mode: 'jwt' });
  });
});

describe.each(testTargets())('the inspector page on $name', ({ backend, transport }) => {
  const h = useTestApp({ backend, transport });

  it('redirects / to /inspect and serves the page with strict headers', async () => {
    const root = await fetch(`${h.app.url}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/inspect');
    const page = await fetch(`${h.app.url}/inspect`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'self'/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|<style/);
    expect(html).toContain('content="jwt"');
    const main = /src="(\/inspect\/[0-9a-f]{16}\/main\.js)"/.exec(html)?.[1];
    expect(main).toBeDefined();
    const asset = await fetch(`${h.app.url}${main}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(asset.headers.get('cache-control')).toMatch(/immutable/);
    expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
    const vendor = await fetch(`${h.app.url}${main?.replace('main.js', 'htm-preact.js')}`);
    expect(await vendor.text()).toMatch(/export\{/);
  });

  it('answers 404 for an old version folder or an unknown file', async () => {
    expect((await fetch(`${h.app.url}/inspect/0000000000000000/main.js`)).status).toBe(404);
    const html = await (await fetch(`${h.app.url}/inspect`)).text();
    const folder = /href="(\/inspect\/[0-9a-f]{16})\//.exec(html)?.[1] ?? '';
    expect((await fetch(`${h.app.url}${folder}/nope.js`)).status).toBe(404);
  });
});

describe('the verify route on a broken chain', () => {
  const inner = createMemoryStore();
  // The chain check itself is tested on real databases (test/durability/verify.test.ts); here
  // only what the route makes of its "broken" answer.
  const store: Store = {
    ...inner,
    verifyChain: (id) =>
      Promise.resolve({
        ok: false,
        session_id: id,
        events: 2,
        broken_seq: 3,
        problem: 'hash mismatch',
      }),
  };
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({ store });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('answers ok false, verified through the seq before the break', async () => {
    const token = await signToken('dana');
    const id = await createSession(app, token);
    const answer = await http(app, 'GET', `/api/v1/sessions/${id}/verify`, { token });
    expect(answer).toEqual({
      status: 200,
      body: {
        session_id: id,
        ok: false,
        verified_through_seq: 2,
        broken_seq: 3,
        problem: 'hash mismatch',
      },
    });
  });
});
