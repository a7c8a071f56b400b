/** The LLM planner's streamed text in the inspector's timeline, as it streams (Chromium). */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuiltinTools, createLedger } from '../../src/agent/index.ts';
import { createOpenAIPlanner } from '../../src/agent/openai/index.ts';
import { useTestApp } from '../integration/harness.ts';
import { hasChromium, launchChromium, openPage, screenshot } from '../support/browser.ts';
import { finishChunk, pause, startFakeChatServer, textChunk } from '../support/fake-chat-server.ts';
import { testTargets } from '../support/targets.ts';
import { createSession, signToken } from '../support/test-app.ts';
import { connect } from '../support/ws-client.ts';

const WAIT = { timeout: 15_000 };
const llm = await startFakeChatServer();
afterAll(() => llm.close());

describe.skipIf(!hasChromium()).each(testTargets())(
  'streamed text in Chromium on $name',
  (target) => {
    let browser: Browser;
    const h = useTestApp(target, {
      planner: createOpenAIPlanner({
        baseUrl: llm.baseUrl,
        model: 'fake-model',
        tools: createBuiltinTools(createLedger()),
        maxRetries: 0,
      }),
    });
    beforeAll(async () => {
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });

    it('shows message_delta text while it streams, then the stored message', async () => {
      const alice = await signToken('alice');
      const sessionId = await createSession(h.app, alice);
      const record = await openPage(browser);
      const { page } = record;
      await page.goto(`${h.app.url}/inspect#session=${sessionId}`);
      await page.getByTestId('token').fill(alice);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByTestId('socket-status').getByText('live').waitFor(WAIT);

      llm.enqueue({
        events: [
          textChunk('Hello'),
          textChunk(', wor'),
          pause(1500),
          textChunk('ld'),
          finishChunk(),
        ],
      });
      const socket = await connect(h.app, { session_id: sessionId, token: alice });
      socket.send({ type: 'execute', command: 'say hello' });
      const streaming = page.getByTestId('streaming');
      await streaming.getByText('Hello, wor').waitFor(WAIT);
      await screenshot(page, `${target.name}-streaming`);
      const message = page.locator('[data-testid="timeline-row"][data-type="message"]');
      await message.waitFor(WAIT);
      expect(await message.textContent()).toContain('Hello, world');
      await streaming.waitFor({ state: 'detached', ...WAIT });
      await socket.waitFor('complete');
      expect(record.consoleErrors).toEqual([]);
      await socket.close();
      await page.context().close();
    });
  },
);
