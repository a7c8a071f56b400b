import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`); CHROMIUM_PATH points elsewhere. */
export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
export const hasChromium = (): boolean => existsSync(CHROMIUM_PATH);

export const ARTIFACTS = new URL('../../test-artifacts/inspector/', import.meta.url);

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

/** What a page did that a test checks at the end: where it went, and what it complained of. */
export interface PageRecord {
  page: Page;
  /** Every HTTP request and WebSocket URL the page opened. */
  urls: string[];
  consoleErrors: string[];
  /** POSTs the page sent, as `path body`. */
  posts: string[];
}

/** A fresh context (its own sessionStorage) with every request and console error recorded. */
export async function openPage(browser: Browser): Promise<PageRecord> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  const page = await context.newPage();
  const record: PageRecord = { page, urls: [], consoleErrors: [], posts: [] };
  page.on('request', (request) => {
    record.urls.push(request.url());
    if (request.method() === 'POST') {
      record.posts.push(`${new URL(request.url()).pathname} ${request.postData() ?? ''}`);
    }
  });
  page.on('websocket', (socket) => record.urls.push(socket.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') record.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => record.consoleErrors.push(`pageerror: ${error.message}`));
  return record;
}

/** Saves a full-page screenshot under test-artifacts/inspector/ (git-ignored; CI keeps it). */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = name.replace(/[^\w.-]+/g, '-');
  await page.screenshot({ path: new URL(`${file}.png`, ARTIFACTS).pathname, fullPage: true });
}
