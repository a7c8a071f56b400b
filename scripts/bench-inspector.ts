/**
 * `npm run bench:inspector`: the inspector in Debian's Chromium over N stored sessions
 * (default 10,000, seeded straight through the store), measuring
 *   - page load: navigation start -> first contentful paint, and -> the first page of the
 *     session list on screen;
 *   - live rows: a stored event's own `timestamp` -> its row in the timeline (MutationObserver
 *     in the page, same machine clock), over ROUNDS `echo` executions of 4 events each.
 * Prints a small table; nothing is asserted. BENCH_SESSIONS / BENCH_ROUNDS override the sizes.
 */
import pino from 'pino';
import WebSocket from 'ws';
import { randomUUID } from 'node:crypto';
import { sessionStates } from '../machines/session.types.ts';
import { startApp } from '../src/start-server.ts';
import { openPgliteStore } from '../src/store/pglite-store.ts';
import { launchChromium } from '../test/support/browser.ts';

const SESSIONS = Number(process.env['BENCH_SESSIONS'] ?? 10_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 20);

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};
const ms = (n: number) => `${n.toFixed(1)} ms`;

const store = await openPgliteStore({ dataDir: 'memory://' });
const seedStart = performance.now();
for (let i = 0; i < SESSIONS; i += 1) {
  await store.createSession({
    id: `ses_${randomUUID().replaceAll('-', '')}`,
    owner: `user${i % 50}`,
    state: sessionStates[i % sessionStates.length] ?? 'idle',
    machine_version: 1,
  });
}
process.stdout.write(`seeded ${SESSIONS} sessions in ${ms(performance.now() - seedStart)}\n`);

const app = await startApp({
  store,
  port: 0,
  auth: { mode: 'dev' },
  logger: pino({ level: 'silent' }),
});
const browser = await launchChromium();
try {
  const listCalls: number[] = [];
  for (let i = 0; i < 20; i += 1) {
    const start = performance.now();
    await (await fetch(`${app.url}/api/v1/sessions?limit=50`)).json();
    listCalls.push(performance.now() - start);
  }
  const loads: { paint: number; list: number }[] = [];
  for (let i = 0; i < 5; i += 1) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}/inspect`);
    await page.getByTestId('session-row').first().waitFor({ timeout: 30_000 });
    const listShown = await page.evaluate(() => performance.now());
    const paint = await page.evaluate(
      () =>
        performance.getEntriesByName('first-contentful-paint')[0]?.startTime ??
        performance.getEntriesByType('paint')[0]?.startTime ??
        NaN,
    );
    loads.push({ paint, list: listShown });
    await context.close();
  }

  // A live session: the page watches it while a socket client drives it.
  const created = (await (
    await fetch(`${app.url}/api/v1/sessions`, { method: 'POST' })
  ).json()) as { id: string };
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${app.url}/inspect#session=${created.id}`);
  await page.getByTestId('timeline').waitFor();
  await page.evaluate(() => {
    const seen: Record<string, number> = {};
    (window as unknown as { __rows: Record<string, number> }).__rows = seen;
    new MutationObserver(() => {
      for (const row of Array.from(document.querySelectorAll('[data-testid="timeline-row"]'))) {
        const seq = row.getAttribute('data-seq') ?? '';
        seen[seq] ??= Date.now();
      }
    }).observe(document.body, { childList: true, subtree: true });
  });
  const ws = new WebSocket(`${app.url.replace('http', 'ws')}/api/v1/ws?session_id=${created.id}`);
  const stamps = new Map<number, number>();
  const socketLags: number[] = [];
  let completes = 0;
  ws.on('message', (raw: Buffer) => {
    const event = JSON.parse(raw.toString('utf8')) as {
      type: string;
      seq: number;
      timestamp: string;
    };
    if (event.type === 'connected') return;
    stamps.set(event.seq, Date.parse(event.timestamp));
    socketLags.push(Date.now() - Date.parse(event.timestamp));
    if (event.type === 'complete') completes += 1;
  });
  await new Promise((resolve) => ws.once('open', resolve));
  for (let round = 0; round < ROUNDS; round += 1) {
    ws.send(JSON.stringify({ type: 'execute', command: `echo round ${round}` }));
    while (completes <= round) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await page.waitForFunction(
    (n) => Object.keys((window as unknown as { __rows: object }).__rows).length >= n,
    stamps.size,
  );
  const rows = await page.evaluate(
    () => (window as unknown as { __rows: Record<string, number> }).__rows,
  );
  const lags = [...stamps].map(([seq, at]) => (rows[String(seq)] ?? NaN) - at);
  ws.close();
  await context.close();

  const paints = loads.map((l) => l.paint);
  const lists = loads.map((l) => l.list);
  process.stdout.write(
    [
      `inspector with ${SESSIONS} stored sessions (PGlite, ${app.transport}, dev auth, Chromium headless)`,
      `  first contentful paint      median ${ms(quantile(paints, 0.5))}  max ${ms(Math.max(...paints))}  (5 loads)`,
      `  session list on screen      median ${ms(quantile(lists, 0.5))}  max ${ms(Math.max(...lists))}`,
      `  GET /api/v1/sessions?limit=50 median ${ms(quantile(listCalls, 0.5))}  max ${ms(Math.max(...listCalls))}  (20 calls)`,
      `  event timestamp -> socket   median ${ms(quantile(socketLags, 0.5))}  p95 ${ms(quantile(socketLags, 0.95))}  (a Node client on the same session)`,
      `  stored event -> its row     median ${ms(quantile(lags, 0.5))}  p95 ${ms(quantile(lags, 0.95))}  max ${ms(Math.max(...lags))}  (${lags.length} events)`,
      '',
    ].join('\n'),
  );
} finally {
  await browser.close();
  await app.close();
  await store.close();
}
