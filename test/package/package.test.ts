/**
 * The package as a user gets it: `npm pack`, installed into a plain-JavaScript project (no
 * TypeScript, no tsx), the README's own-tool example run with plain `node` and driven to
 * `complete` over a real WebSocket with the packaged client, then the `hitl-runtime` command.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const NPM_QUIET = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];

interface PackedFile {
  path: string;
}

/** The fenced block after the own-tool marker in README.md. */
async function readmeExample(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const match = /<!-- own-tool example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  if (!match?.[1]) throw new Error('README.md has no own-tool example block');
  return match[1];
}

/** Stands in for the user's payment system: records every refund. */
const PREAMBLE = `
const refunds = [];
const payments = {
  refund: async (order_id, amount, { idempotencyKey }) => {
    refunds.push({ order_id, amount, idempotencyKey });
    return { refunded: amount, order_id };
  },
};
`;

/** Drives one session through approval with the packaged client, then prints what it saw. */
const DRIVER = `
import { connectSession } from 'hitl-actor-runtime/client';

const created = await (await fetch(server.url + '/api/v1/sessions', { method: 'POST' })).json();
const client = await connectSession({ url: server.url, sessionId: created.id });
const since = { since: 0, timeoutMs: 20_000 };
await client.execute('refund order A-17', [
  { tool: 'refund', args: { order_id: 'A-17', amount: 120 } },
]);
const required = await client.waitFor('approval_required', undefined, since);
const refundsBeforeApproval = refunds.length;
await client.approve(required.data.request_id);
const result = await client.waitFor('tool_result', undefined, since);
const complete = await client.waitFor('complete', undefined, since);
await client.close();
// The inspector page, served from the installed package's own files.
const page = await fetch(server.url + '/inspect');
const html = await page.text();
const folder = /src="(\\/inspect\\/[0-9a-f]+)\\/main\\.js"/.exec(html)?.[1];
const assets = {};
for (const file of ['main.js', 'chart.js', 'htm-preact.js', 'inspector.css']) {
  assets[file] = (await fetch(server.url + folder + '/' + file)).status;
}
const inspector = { status: page.status, csp: page.headers.get('content-security-policy'), assets };
await server.close();
process.stdout.write('RESULT ' + JSON.stringify({
  sessionId: created.id, required: required.data, refundsBeforeApproval,
  result: result.data, complete: { state: complete.state, seq: complete.seq }, refunds, inspector,
}) + '\\n');
`;

describe('the packed package in a plain Node project', { timeout: 300_000 }, () => {
  let dir: string;
  let project: string;
  let files: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hitl-package-'));
    project = join(dir, 'project');
    // prepack builds dist/ first; --json lists what went into the tarball.
    const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: ROOT,
      maxBuffer: 16 * 1024 * 1024,
    });
    const json = packed.stdout.slice(Math.max(0, packed.stdout.indexOf('\n[') + 1));
    const [entry] = JSON.parse(json) as Array<{ filename: string; files: PackedFile[] }>;
    if (!entry) throw new Error(`npm pack printed no entry: ${packed.stdout}`);
    files = entry.files.map((f) => f.path);

    const zodRange = (
      JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
        dependencies: Record<string, string>;
      }
    ).dependencies['zod'];
    await run('mkdir', ['-p', project]);
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'embedder', private: true, type: 'module' }),
    );
    await run('npm', ['install', join(dir, entry.filename), `zod@${zodRange}`, ...NPM_QUIET], {
      cwd: project,
      maxBuffer: 16 * 1024 * 1024,
    });
    // npm pack (a full build) and npm install: over a minute when the rest of the suite loads
    // the machine.
  }, 240_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ships the built code, its types and migrations, and no test', () => {
    for (const path of [
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/client/index.js',
      'dist/src/client/index.d.ts',
      'dist/src/bin.js',
      'dist/src/store/migrations/001_init.sql',
      'dist/src/store/migrations/002_session_list.sql',
      'dist/src/inspector/index.html',
      'dist/src/inspector/main.js',
      'README.md',
      'LICENSE',
    ]) {
      expect(files).toContain(path);
    }
    const outside = files.filter((f) => !f.startsWith('dist/'));
    expect(
      outside.every((f) => /^(README\.md|LICENSE|package\.json|docs\/[\w-]+\.md)$/.test(f)),
    ).toBe(true);
    const tests = files.filter((f) =>
      /(^|\/)(test|tests|__tests__)\/|\.(test|spec)\.|test-helpers|fixtures|harness|contract/.test(
        f,
      ),
    );
    expect(tests).toEqual([]);
    expect(files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toBe(false);
  });

  it('runs the README example with plain node and completes a flow through approval', async () => {
    expect(existsSync(join(project, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(project, 'node_modules', 'typescript'))).toBe(false);
    const script = `${PREAMBLE}\n${await readmeExample()}\n${DRIVER}`;
    await writeFile(join(project, 'server.mjs'), script);
    const { stdout } = await run(process.execPath, ['server.mjs'], {
      cwd: project,
      env: { PATH: process.env['PATH'] ?? '', PORT: '0' },
      timeout: 120_000,
    });
    expect(stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`no RESULT line in:\n${stdout}`);
    const seen = JSON.parse(line.slice('RESULT '.length));
    expect(seen.required).toMatchObject({
      tool: 'refund',
      args: { order_id: 'A-17', amount: 120 },
      reason: 'a refund of 120 needs a human',
    });
    expect(seen.refundsBeforeApproval).toBe(0);
    expect(seen.result).toMatchObject({ tool: 'refund', result: { refunded: 120 } });
    expect(seen.complete.state).toBe('complete');
    expect(seen.refunds).toEqual([
      { order_id: 'A-17', amount: 120, idempotencyKey: seen.required.call_id },
    ]);
    expect(seen.inspector).toEqual({
      status: 200,
      csp: expect.stringMatching(/^default-src 'self'/),
      assets: { 'main.js': 200, 'chart.js': 200, 'htm-preact.js': 200, 'inspector.css': 200 },
    });

    // The installed command, on the data directory the example left behind.
    const bin = join(project, 'node_modules', '.bin', 'hitl-runtime');
    const env = { PATH: process.env['PATH'] ?? '', DATA_DIR: join(project, 'data') };
    const migrated = await run(bin, ['migrate'], { cwd: project, env });
    expect(migrated.stdout).toMatch(/^ok: pglite schema is at migration \d+\n$/);
    const verified = await run(bin, ['verify', seen.sessionId], { cwd: project, env });
    expect(verified.stdout).toBe(
      `ok: session ${seen.sessionId}, ${seen.complete.seq} events, chain intact\n`,
    );
  });
});
