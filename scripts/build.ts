/**
 * `npm run build` (and `prepack`): a clean dist/ with the JS and `.d.ts` of what the package
 * ships (tsconfig.build.json), plus the files read from beside the code at run time: the SQL
 * migrations (src/store/migrations.ts) and the inspector page (src/server/inspector-assets.ts),
 * which are plain files, served as they are: no front-end build.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const dist = `${root}dist`;
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
cpSync(`${root}src/store/migrations`, `${dist}/src/store/migrations`, {
  recursive: true,
  filter: (source) => !/\.(test|spec)\./.test(source),
});
cpSync(`${root}src/inspector`, `${dist}/src/inspector`, {
  recursive: true,
  filter: (source) => !/\.(test|spec)\./.test(source),
});
const copied = readdirSync(`${dist}/src/store/migrations`).filter((f) => f.endsWith('.sql'));
if (copied.length === 0) throw new Error('no SQL migrations were copied into dist');
const page = readdirSync(`${dist}/src/inspector`);
if (!page.includes('index.html')) throw new Error('the inspector page was not copied into dist');
process.stderr.write(
  `built dist/ with ${copied.length} migration(s) and ${page.length} inspector file(s)\n`,
);
