/**
 * The inspector in Debian's Chromium (playwright-core), against the real server on each store
 * backend and transport. Skipped (with one line from global-setup) where Chromium is missing.
 */
import type { Browser, Page } from 'playwright-core';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTool } from '../../src/agent/tool.ts';
import { builtinTools } from '../../src/agent/builtin-tools.ts';
import { createLedger } from '../../src/agent/ledger.ts';
import { useTestApp } from '../integration/harness.ts';
import {
  hasChromium,
  launchChromium,
  openPage,
  screenshot,
  type PageRecord,
} from '../support/browser.ts';
import { testTargets } from '../support/targets.ts';
import { createSession, http, signToken, type App } from '../support/test-app.ts';
import { connect, type TestSocket } from '../support/ws-client.ts';

/** A tool whose schema has a rule JSON Schema cannot say: only the server catches it. */
const payout = defineTool({
  name: 'payout',
  description: 'Pays an account from another one (test tool).',
  args: z
    .object({ to: z.string().min(1), from: z.string().min(1), amount: z.number().positive() })
    .refine((a) => a.to !== a.from, { message: 'to and from must differ', path: ['to'] }),
  needsApproval: true,
  idempotent: true,
  run: (args) => Promise.resolve({ paid: args.amount }),
});

const WAIT = { timeout: 15_000 };

describe.skipIf(!hasChromium()).each(testTargets())('inspector in Chromium on $name', (target) => {
  const ledger = createLedger();
  const h = useTestApp(target, { ledger, tools: [...builtinTools(ledger), payout] });
  let browser: Browser;
  let alice: string;
  beforeAll(async () => {
    browser = await launchChromium();
    alice = await signToken('alice');
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** Opens /inspect, signs in with the token through the page's own form. */
  async function signedIn(token: string, hash = ''): Promise<PageRecord> {
    const record = await openPage(browser);
    await record.page.goto(`${h.app.url}/inspect${hash}`);
    await record.page.getByTestId('token').fill(token);
    await record.page.getByRole('button', { name: 'Sign in' }).click();
    await record.page.getByTestId('who').waitFor(WAIT);
    return record;
  }

  /** A session of alice's driven over the socket to awaiting_approval. */
  async function waitingSession(
    execute: Record<string, unknown>,
  ): Promise<{ sessionId: string; socket: TestSocket; requestId: string }> {
    const sessionId = await createSession(h.app, alice);
    const socket = await connect(h.app, { session_id: sessionId, token: alice });
    socket.send({ type: 'execute', ...execute });
    const required = await socket.waitFor('approval_required');
    return { sessionId, socket, requestId: String(required.data.request_id) };
  }

  /** Only its own origin, and nothing in the console (save what a scenario expects). */
  function expectCleanPage(record: PageRecord, app: App, allowed: RegExp[] = []): void {
    const host = new URL(app.url).host;
    const elsewhere = record.urls.filter((u) => new URL(u).host !== host);
    expect(elsewhere).toEqual([]);
    expect(record.urls.length).toBeGreaterThan(3);
    expect(record.consoleErrors.filter((e) => !allowed.some((a) => a.test(e)))).toEqual([]);
  }

  const chartState = (page: Page, state: string) =>
    page.locator(`[data-testid="chart"][data-current="${state}"]`).waitFor(WAIT);

  it('shows a waiting session in the list, inbox and chart; Approve completes it', async () => {
    const { sessionId, socket, requestId } = await waitingSession({
      command: 'transfer 250 USD to carol',
    });
    const record = await signedIn(alice);
    const { page } = record;
    expect(await page.evaluate(() => sessionStorage.getItem('hitl-inspector-token'))).toBe(alice);
    const row = page.locator(`[data-testid="session-row"][data-session-id="${sessionId}"]`);
    await row.waitFor(WAIT);
    expect(await row.getAttribute('data-state')).toBe('awaiting_approval');
    const approval = page.locator(`[data-testid="approval"][data-request-id="${requestId}"]`);
    await approval.waitFor(WAIT);
    expect(await approval.textContent()).toContain('transfer');
    await row.click();
    await chartState(page, 'awaiting_approval');
    expect(await page.getByTestId('accepts').textContent()).toContain('approve');
    await page.locator('[data-testid="timeline-row"][data-type="approval_required"]').waitFor(WAIT);
    await screenshot(page, `${target.name}-awaiting-approval`);

    await approval.getByRole('button', { name: 'Approve' }).click();
    await chartState(page, 'complete');
    const approved = page.locator('[data-testid="timeline-row"][data-type="approved"]');
    await approved.waitFor(WAIT);
    expect(await approved.textContent()).toContain('decided_by alice');
    await page.locator('[data-testid="audit"][data-ok="true"]').waitFor(WAIT);
    await approval.waitFor({ state: 'detached', ...WAIT });
    await screenshot(page, `${target.name}-approved`);
    expect(
      (await http(h.app, 'GET', `/api/v1/sessions/${sessionId}`, { token: alice })).body.state,
    ).toBe('complete');

    // Time travel: seq 2 is the approval request; the session itself stays complete.
    await page.locator('#travel').fill('2');
    await chartState(page, 'awaiting_approval');
    expect(await page.getByTestId('live-state').textContent()).toBe('complete');
    expect(await page.getByTestId('pending').textContent()).toContain('transfer');
    expect(await page.getByTestId('travel-note').textContent()).toContain('after event 2');
    await screenshot(page, `${target.name}-time-travel`);
    await page.getByTestId('travel-live').click();
    await chartState(page, 'complete');
    expect(
      (await http(h.app, 'GET', `/api/v1/sessions/${sessionId}`, { token: alice })).body.state,
    ).toBe('complete');
    expectCleanPage(record, h.app);
    await socket.close();
    await page.context().close();
  });

  it('checks an edit against the schema before sending, and shows the server’s refusal', async () => {
    const { sessionId, socket, requestId } = await waitingSession({
      command: 'pay',
      plan: [{ tool: 'payout', args: { to: 'bob', from: 'ops', amount: 40 } }],
    });
    const record = await signedIn(alice, `#session=${sessionId}`);
    const { page } = record;
    const approval = page.locator(`[data-testid="approval"][data-request-id="${requestId}"]`);
    await approval.getByRole('button', { name: 'Edit' }).click(WAIT);
    const form = approval.getByTestId('edit-form');
    await form.locator('input[name="amount"]').fill('-5');
    await form.getByRole('button', { name: 'Approve with these args' }).click();
    expect(await form.getByTestId('edit-error').textContent()).toContain('amount: must be > 0');
    expect(record.posts).toEqual([]);

    // Valid as far as the JSON Schema says, refused by the server's own check.
    await form.locator('input[name="amount"]').fill('50');
    await form.locator('input[name="to"]').fill('ops');
    await form.getByRole('button', { name: 'Approve with these args' }).click();
    const error = form.getByTestId('edit-error');
    await error.getByText('invalid_tool_args').waitFor(WAIT);
    expect(await error.textContent()).toContain('to and from must differ');
    await screenshot(page, `${target.name}-edit-refused`);
    expect(record.posts).toHaveLength(1);

    const approvalNow = await http(h.app, 'GET', `/api/v1/sessions/${sessionId}`, { token: alice });
    expect(approvalNow.body.state).toBe('awaiting_approval');
    expect(approvalNow.body.pending_approvals).toHaveLength(1);
    const log = await http(h.app, 'GET', `/api/v1/sessions/${sessionId}/events`, { token: alice });
    expect((log.body.events as Array<{ type: string }>).map((e) => e.type)).toEqual([
      'thinking',
      'approval_required',
    ]);
    // Fixed, the same form goes through: the timeline shows the edit and who made it.
    await form.locator('input[name="to"]').fill('bob');
    await form.getByRole('button', { name: 'Approve with these args' }).click();
    const edited = page.locator('[data-testid="timeline-row"][data-type="edit_approved"]');
    await edited.waitFor(WAIT);
    expect(await edited.textContent()).toContain('decided_by alice');
    await chartState(page, 'complete');
    const stored = await http(h.app, 'GET', `/api/v1/sessions/${sessionId}/events`, {
      token: alice,
    });
    const edit = (stored.body.events as Array<{ type: string; data: any }>).find(
      (e) => e.type === 'edit_approved',
    );
    expect(edit?.data.edited_args).toEqual({ to: 'bob', from: 'ops', amount: 50 });
    // The one console error is the browser reporting the server's 400.
    expectCleanPage(record, h.app, [/status of 400/]);
    await socket.close();
    await page.context().close();
  });

  it('rejects with a reason from the inbox; the timeline shows who and why', async () => {
    const { sessionId, socket, requestId } = await waitingSession({
      command: 'transfer 400 USD to bob',
    });
    const before = ledger.balance('bob');
    const record = await signedIn(alice, `#session=${sessionId}`);
    const { page } = record;
    const approval = page.locator(`[data-testid="approval"][data-request-id="${requestId}"]`);
    await approval.getByRole('button', { name: 'Reject' }).click(WAIT);
    await approval.getByTestId('reject-reason').fill('not this month');
    await approval.getByRole('button', { name: 'Reject' }).click();
    const rejected = page.locator('[data-testid="timeline-row"][data-type="rejected"]');
    await rejected.waitFor(WAIT);
    expect(await rejected.textContent()).toContain('decided_by alice: not this month');
    await chartState(page, 'complete');
    await approval.waitFor({ state: 'detached', ...WAIT });
    expect(ledger.balance('bob')).toBe(before);
    expectCleanPage(record, h.app);
    await socket.close();
    await page.context().close();
  });

  it('draws a subagent as its own nested chart with its own state', async () => {
    const { sessionId, socket, requestId } = await waitingSession({
      command: 'delegate',
      plan: [
        {
          tool: 'delegate',
          args: {
            task: 'pay dave',
            plan: [{ tool: 'transfer', args: { to: 'dave', amount: 150, currency: 'USD' } }],
          },
        },
      ],
    });
    const record = await signedIn(alice, `#session=${sessionId}`);
    const { page } = record;
    await chartState(page, 'executing.subagent');
    const sub = page.getByTestId('subchart');
    await sub.and(page.locator('[data-current="awaiting_approval"]')).waitFor(WAIT);
    await screenshot(page, `${target.name}-subagent`);
    await page
      .locator(`[data-testid="approval"][data-request-id="${requestId}"]`)
      .getByRole('button', { name: 'Approve' })
      .click();
    await sub.and(page.locator('[data-current="complete"]')).waitFor(WAIT);
    await chartState(page, 'complete');
    expectCleanPage(record, h.app);
    await socket.close();
    await page.context().close();
  });

  it('shows another user neither the session nor its approval (jwt)', async () => {
    const { sessionId, socket, requestId } = await waitingSession({
      command: 'transfer 180 USD to erin',
    });
    const mallory = await signToken('mallory');
    const record = await signedIn(mallory);
    const { page } = record;
    await page.getByText('No sessions you may see.').waitFor(WAIT);
    await page.getByText('Nothing waits for a decision.').waitFor(WAIT);
    expect(await page.locator(`[data-session-id="${sessionId}"]`).count()).toBe(0);
    expect(await page.locator(`[data-request-id="${requestId}"]`).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    await screenshot(page, `${target.name}-other-user`);
    // The server refuses the decision anyway.
    const refused = await http(h.app, 'POST', `/api/v1/approvals/${requestId}/approve`, {
      token: mallory,
    });
    expect(refused.status).toBe(404);
    expectCleanPage(record, h.app);
    socket.send({ type: 'reject', request_id: requestId });
    await socket.waitFor('complete');
    await socket.close();
    await page.context().close();
  });

  it('four eyes in the inbox: the votes so far, who may vote, and every approver in the timeline', async () => {
    const { sessionId, socket, requestId } = await waitingSession({
      command: 'transfer 20000 USD to carol',
    });
    const selector = `[data-testid="approval"][data-request-id="${requestId}"]`;
    // alice asked for it: she sees the request and why she may not decide it.
    const own = await signedIn(alice);
    const mine = own.page.locator(selector);
    await mine.waitFor(WAIT);
    expect(await mine.getByTestId('votes').textContent()).toBe('0 of 2 approvals');
    expect(await mine.getByTestId('may-not-vote').textContent()).toContain(
      'approval policy does not let you decide',
    );
    expect(await mine.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    await own.page.context().close();

    const bob = await signedIn(await signToken('bob', { roles: ['approver'] }));
    const first = bob.page.locator(selector);
    await first.getByRole('button', { name: 'Approve' }).click(WAIT);
    await first.getByTestId('may-not-vote').waitFor(WAIT);
    expect(await first.getByTestId('votes').textContent()).toBe('1 of 2 approvals');
    expect(await first.getByTestId('may-not-vote').textContent()).toContain('You have voted');
    await screenshot(bob.page, `${target.name}-four-eyes-one-vote`);
    await bob.page.context().close();

    const cara = await signedIn(await signToken('cara', { roles: ['approver'] }));
    const second = cara.page.locator(selector);
    expect(await second.getByTestId('votes').textContent({ timeout: 15_000 })).toBe(
      '1 of 2 approvals',
    );
    await second.getByRole('button', { name: 'Approve' }).click(WAIT);
    await second.waitFor({ state: 'detached', ...WAIT });
    await cara.page.locator(`[data-testid="session-row"][data-session-id="${sessionId}"]`).click();
    const approved = cara.page.locator('[data-testid="timeline-row"][data-type="approved"]');
    await approved.waitFor(WAIT);
    expect(await approved.textContent()).toContain('decided_by bob, cara');
    const votes = cara.page.locator('[data-testid="timeline-row"][data-type="approval_vote"]');
    expect(await votes.count()).toBe(2);
    expect(await votes.first().textContent()).toContain('approve by bob: 1 of 2');
    await screenshot(cara.page, `${target.name}-four-eyes-approved`);
    expectCleanPage(cara, h.app);
    await socket.waitFor('complete');
    await socket.close();
    await cara.page.context().close();
  });
});
