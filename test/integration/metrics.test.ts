import { describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { parsePrometheusText, valueOf, type Exposition } from '../support/prometheus-text.ts';
import { http, signToken, type App } from '../support/test-app.ts';
import { connect } from '../support/ws-client.ts';
import { openUserSession, refusedUpgrade, useTestApp } from './harness.ts';

const METRICS_TOKEN = 'metrics-token-for-tests';

async function scrape(app: Pick<App, 'url'>, token?: string): Promise<Exposition> {
  const response = await fetch(`${app.url}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await response.text());
}

/** Scrapes until `check` holds (a socket's close reaches the server a moment after the client's). */
async function scrapeUntil(
  app: Pick<App, 'url'>,
  token: string | undefined,
  check: (m: Exposition) => boolean,
): Promise<Exposition> {
  for (let i = 0; i < 100; i++) {
    const metrics = await scrape(app, token);
    if (check(metrics)) return metrics;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the metrics never got there');
}

describe.each(testTargets())('GET /metrics on $name', (target) => {
  describe('jwt auth with METRICS_TOKEN', () => {
    const h = useTestApp(target, { env: { METRICS_TOKEN } });

    it('answers 401 without the token or with another one, 200 with it', async () => {
      expect(await http(h.app, 'GET', '/metrics')).toMatchObject({
        status: 401,
        body: { error: { code: 'token_missing' } },
      });
      const user = await signToken('alice');
      expect(await http(h.app, 'GET', '/metrics', { token: user })).toMatchObject({
        status: 401,
        body: { error: { code: 'token_invalid' } },
      });
      await scrape(h.app, METRICS_TOKEN);
    });

    it('serves Prometheus text: HELP and TYPE for every metric, process metrics included', async () => {
      const response = await fetch(`${h.app.url}/metrics`, {
        headers: { authorization: `Bearer ${METRICS_TOKEN}` },
      });
      const text = await response.text();
      const metrics = parsePrometheusText(text);
      for (const name of [
        'hitl_sockets_open',
        'hitl_upgrades_refused_total',
        'hitl_sessions_in_memory',
        'hitl_events_stored_total',
        'hitl_events_sent_total',
        'hitl_store_commit_seconds',
        'hitl_approvals_pending',
        'hitl_approvals_decided_total',
        'hitl_limit_refusals_total',
        'hitl_store_errors_total',
        'nodejs_eventloop_lag_seconds',
        'process_cpu_user_seconds_total',
      ]) {
        const family = name.replace(/_total$/, '');
        expect(metrics.help.has(family) || metrics.help.has(name), name).toBe(true);
        expect(metrics.types.has(family) || metrics.types.has(name), name).toBe(true);
      }
      expect(metrics.types.get('hitl_store_commit_seconds')).toBe('histogram');
      expect(metrics.samples.length).toBeGreaterThan(20);
    });

    it('moves by what a user did: a socket, a transfer approved, its events', async () => {
      const before = await scrape(h.app, METRICS_TOKEN);
      const { token, sessionId, socket } = await openUserSession(h.app, 'metrics-user');
      socket.send({ type: 'execute', command: 'transfer 250 USD to alice' });
      const required = await socket.waitFor('approval_required');

      const waiting = await scrape(h.app, METRICS_TOKEN);
      expect(valueOf(waiting, 'hitl_sockets_open', { transport: h.app.transport })).toBe(1);
      expect(valueOf(waiting, 'hitl_approvals_pending')).toBe(1);
      expect(valueOf(waiting, 'hitl_sessions_in_memory', { state: 'awaiting_approval' })).toBe(1);

      socket.send({ type: 'approve', request_id: required.data.request_id });
      await socket.waitFor('complete');
      const after = await scrape(h.app, METRICS_TOKEN);
      const delta = (name: string, labels: Record<string, string> = {}) =>
        valueOf(after, name, labels) - valueOf(before, name, labels);

      const stored = await http(h.app, 'GET', `/api/v1/sessions/${sessionId}/events`, { token });
      const storedEvents = (stored.body as { events: unknown[] }).events.length;
      expect(storedEvents).toBeGreaterThan(4);
      expect(delta('hitl_events_stored_total')).toBe(storedEvents);
      // One socket: every frame it got (connected, the session's events) was counted once.
      expect(delta('hitl_events_sent_total')).toBe(socket.events.length);
      expect(delta('hitl_approvals_decided_total', { outcome: 'approved' })).toBe(1);
      expect(delta('hitl_approvals_decided_total', { outcome: 'rejected' })).toBe(0);
      expect(delta('hitl_store_commit_seconds_count')).toBeGreaterThanOrEqual(storedEvents / 2);
      expect(valueOf(after, 'hitl_approvals_pending')).toBe(0);
      expect(valueOf(after, 'hitl_sessions_in_memory', { state: 'complete' })).toBe(1);
      expect(valueOf(after, 'hitl_store_errors_total', { where: 'commit' })).toBe(0);

      await socket.close();
      const closed = await scrapeUntil(
        h.app,
        METRICS_TOKEN,
        (m) => valueOf(m, 'hitl_sockets_open', { transport: h.app.transport }) === 0,
      );
      expect(valueOf(closed, 'hitl_sockets_open', { transport: h.app.transport })).toBe(0);
    });
  });

  describe('dev auth, one socket per user', () => {
    const h = useTestApp(target, {
      authMode: 'dev',
      limits: { maxSocketsPerUser: 1, sessionsPerMinute: 2 },
    });

    it('is open, and counts a refused upgrade by its code and as a limit refusal, and a REST quota refusal', async () => {
      const before = await scrape(h.app);
      const { sessionId, socket } = await openUserSession(h.app);
      const refused = await refusedUpgrade(connect(h.app, { session_id: sessionId }));
      expect(refused).toMatchObject({
        status: 429,
        body: { error: { code: 'too_many_connections' } },
      });
      expect((await http(h.app, 'POST', '/api/v1/sessions')).status).toBe(201);
      const quota = await http(h.app, 'POST', '/api/v1/sessions');
      expect(quota).toMatchObject({ status: 429, body: { error: { code: 'quota_exceeded' } } });
      const after = await scrape(h.app);
      const delta = (name: string, labels: Record<string, string>) =>
        valueOf(after, name, labels) - valueOf(before, name, labels);
      expect(delta('hitl_upgrades_refused_total', { code: 'too_many_connections' })).toBe(1);
      expect(delta('hitl_limit_refusals_total', { kind: 'too_many_connections' })).toBe(1);
      expect(delta('hitl_limit_refusals_total', { kind: 'quota_exceeded' })).toBe(1);
      expect(delta('hitl_limit_refusals_total', { kind: 'rate_limited' })).toBe(0);
      await socket.close();
    });
  });
});
