import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { AppError } from '../errors.ts';
import type { HttpAnswer } from './http.ts';
import type { Route } from './router.ts';

/** The page's own files, beside src/server (and dist/src/server in the package). */
const PAGE_DIR = new URL('../inspector/', import.meta.url);
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
/** Strict for every answer of the page: nothing inline, nothing from another origin. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};
export const INSPECT_PATH = '/inspect';

interface Asset {
  type: string;
  body: string;
}

/** preact + hooks + htm in one ES module with no bare imports, from the `htm` package. */
function vendorModule(): string {
  // Beside the package's main file (dist/htm.js); its `exports` hide the .mjs from require.
  const main = pathToFileURL(createRequire(import.meta.url).resolve('htm'));
  return readFileSync(new URL('../preact/standalone.mjs', main), 'utf8');
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(PAGE_DIR).sort()) {
    const type = TYPES[name.slice(name.lastIndexOf('.'))];
    if (!type || /\.(test|spec)\./.test(name)) continue;
    assets.set(name, { type, body: readFileSync(new URL(name, PAGE_DIR), 'utf8') });
  }
  assets.set('htm-preact.js', { type: TYPES['.js'] ?? '', body: vendorModule() });
  return assets;
}

/**
 * The inspector page (`/inspect`; `/` redirects there), read once at start. Its files are
 * served under `/inspect/<hash of all of them>/`, cached for good; the HTML that names that
 * folder is never cached, so a new version is picked up on the next load.
 */
export function inspectorRoutes(authMode: 'dev' | 'jwt'): Route[] {
  const assets = loadAssets();
  const hash = createHash('sha256');
  for (const [name, asset] of assets) hash.update(name).update('\0').update(asset.body);
  const version = hash.digest('hex').slice(0, 16);
  const page = assets.get('index.html');
  if (!page) throw new Error(`the inspector page is missing from ${PAGE_DIR.pathname}`);
  assets.delete('index.html');
  const folder = `${INSPECT_PATH}/${version}`;
  // Every module announced up front: the browser fetches them at once, not import by import.
  const preload = [...assets.keys()]
    .filter((name) => name.endsWith('.js'))
    .map((name) => `<link rel="modulepreload" href="${folder}/${name}" />`)
    .join('\n    ');
  const html = page.body
    .replace('<!-- %PRELOAD% -->', preload)
    .replaceAll('%ASSETS%', folder)
    .replaceAll('%AUTH_MODE%', authMode);

  const answer = (type: string, body: string, cache: string): HttpAnswer => ({
    status: 200,
    headers: { 'content-type': type, 'cache-control': cache, ...PAGE_HEADERS },
    body,
  });
  const index = () => Promise.resolve(answer(page.type, html, 'no-cache'));

  return [
    {
      method: 'GET',
      path: '/',
      handler: () =>
        Promise.resolve({ status: 302, headers: { location: INSPECT_PATH }, body: '' }),
    },
    { method: 'GET', path: INSPECT_PATH, handler: index },
    { method: 'GET', path: `${INSPECT_PATH}/`, handler: index },
    {
      method: 'GET',
      path: `${INSPECT_PATH}/:version/:file`,
      handler: (_request, [asked = '', file = '']) => {
        const asset = assets.get(file);
        if (asked !== version || !asset) {
          return Promise.reject(new AppError('not_found', `no inspector file ${file}`, 404));
        }
        return Promise.resolve(
          answer(asset.type, asset.body, 'public, max-age=31536000, immutable'),
        );
      },
    },
  ];
}
