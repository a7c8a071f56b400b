import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { OutboundEvent } from '../protocol/outbound.ts';
import { parsePrometheusText, valueOf } from '../../test/support/prometheus-text.ts';
import { createServerMetrics } from './metrics.ts';
import { metricsRoutes } from './metrics-route.ts';
import { createHttpHandler } from './router.ts';

const events = (...types: string[]) => types.map((type) => ({ type }) as OutboundEvent);
const read = async (metrics: ReturnType<typeof createServerMetrics>) =>
  parsePrometheusText(await metrics.scrape());

describe('server metrics', () => {
  it('counts limit refusals by kind and 5xx store errors, nothing for other answers', async () => {
    const metrics = createServerMetrics();
    metrics.meter.answered('rate_limited', 429);
    metrics.meter.answered('quota_exceeded', 429);
    metrics.meter.upgradeRefused('too_many_connections', 429);
    metrics.meter.upgradeRefused('token_missing', 401);
    metrics.meter.answered('store_query_failed', 500);
    metrics.meter.answered('session_not_found', 404);
    const m = await read(metrics);
    expect(valueOf(m, 'hitl_limit_refusals_total', { kind: 'rate_limited' })).toBe(1);
    expect(valueOf(m, 'hitl_limit_refusals_total', { kind: 'quota_exceeded' })).toBe(1);
    expect(valueOf(m, 'hitl_limit_refusals_total', { kind: 'too_many_connections' })).toBe(1);
    expect(valueOf(m, 'hitl_upgrades_refused_total', { code: 'token_missing' })).toBe(1);
    expect(valueOf(m, 'hitl_store_errors_total', { where: 'request' })).toBe(1);
    const kinds = m.samples.filter((s) => s.name === 'hitl_limit_refusals_total');
    expect(kinds.map((s) => s.labels['kind']).sort()).toEqual([
      'quota_exceeded',
      'rate_limited',
      'too_many_connections',
    ]);
  });

  it('counts stored events, decisions by outcome, commits in seconds and failed writes', async () => {
    const metrics = createServerMetrics();
    metrics.observer.stored(events('approval_required', 'approved', 'tool_call'));
    metrics.observer.stored(events('edit_approved', 'approval_expired', 'rejected'));
    metrics.observer.commit(3);
    metrics.observer.storeError();
    const m = await read(metrics);
    expect(valueOf(m, 'hitl_events_stored_total')).toBe(6);
    for (const outcome of ['approved', 'edited', 'expired', 'rejected'])
      expect(valueOf(m, 'hitl_approvals_decided_total', { outcome }), outcome).toBe(1);
    expect(valueOf(m, 'hitl_store_commit_seconds_count')).toBe(1);
    expect(valueOf(m, 'hitl_store_commit_seconds_sum')).toBeCloseTo(0.003);
    expect(valueOf(m, 'hitl_store_commit_seconds_bucket', { le: '0.0025' })).toBe(0);
    expect(valueOf(m, 'hitl_store_commit_seconds_bucket', { le: '0.005' })).toBe(1);
    expect(valueOf(m, 'hitl_store_errors_total', { where: 'commit' })).toBe(1);
  });

  it('reads sockets, sessions and pending approvals from what it is bound to, on each scrape', async () => {
    const metrics = createServerMetrics();
    let open = 2;
    metrics.bind({
      transport: () => 'portable',
      socketsOpen: () => open,
      runtime: {
        statesInMemory: () => ({
          idle: 1,
          thinking: 0,
          awaiting_approval: 3,
          executing: 0,
          complete: 0,
          cancelled: 0,
          failed: 0,
        }),
        pendingApprovalsInMemory: () => 4,
      },
    });
    const m = await read(metrics);
    expect(valueOf(m, 'hitl_sockets_open', { transport: 'portable' })).toBe(2);
    expect(valueOf(m, 'hitl_sessions_in_memory', { state: 'awaiting_approval' })).toBe(3);
    expect(valueOf(m, 'hitl_approvals_pending')).toBe(4);
    open = 0;
    expect(valueOf(await read(metrics), 'hitl_sockets_open', { transport: 'portable' })).toBe(0);
  });

  it('gives each server its own registry: two in one process never collide', async () => {
    const a = createServerMetrics();
    const b = createServerMetrics();
    a.observer.stored(events('thinking'));
    expect(valueOf(await read(a), 'hitl_events_stored_total')).toBe(1);
    expect(valueOf(await read(b), 'hitl_events_stored_total')).toBe(0);
  });
});

describe('GET /metrics access', () => {
  const logger = pino({ level: 'silent' });
  const get = (handler: ReturnType<typeof createHttpHandler>, authorization = '') =>
    handler({ method: 'GET', url: '/metrics', query: new URLSearchParams(), authorization }, () =>
      Promise.resolve(new Uint8Array()),
    );
  const handlerFor = (authMode: 'dev' | 'jwt', token: string | undefined) => {
    const metrics = createServerMetrics();
    return createHttpHandler(metricsRoutes({ metrics, authMode, token }), logger);
  };

  it('is open with dev auth', async () => {
    const answer = await get(handlerFor('dev', undefined));
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('with jwt auth wants the metrics token: 401 without it or with another, 200 with it', async () => {
    const handler = handlerFor('jwt', 'the-token');
    expect((await get(handler)).status).toBe(401);
    expect((await get(handler, 'Bearer the-token-not')).body).toContain('token_invalid');
    expect((await get(handler, 'Bearer the-token')).status).toBe(200);
  });

  it('with jwt auth and no metrics token, is not there (404)', async () => {
    const answer = await get(handlerFor('jwt', undefined), 'Bearer anything');
    expect(answer.status).toBe(404);
    expect(answer.body).toContain('not_found');
  });
});
