import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The uWebSockets.js module shape (both builds share the 20.30 typings we compile against). */
export type Uws = typeof import('uWebSockets.js');

export type UwsBuildName = 'uws-20.57' | 'uws-20.30';

export interface UwsBuild {
  name: UwsBuildName;
  version: string;
  uws: Uws;
}

/** Why one build did not load, in words a user can act on. */
export interface UwsMiss {
  name: UwsBuildName;
  why: string;
}

const require = createRequire(import.meta.url);
const binaryName = () => `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;

/** The upstream v20.57.0 release, republished as @btc-vision/uwebsockets.js (Node 20-25, glibc >= 2.38). */
function load2057(): Uws {
  return require('@btc-vision/uwebsockets.js') as Uws;
}

/**
 * v20.30 as @trufflesuite/uws-js-unofficial (Node <= 20, glibc >= 2.27). Its entry point falls
 * back to a slow pure-JS server (printing to the console) when the binary cannot load, so the
 * binary is required directly: it loads or it throws.
 */
function load2030(): Uws {
  const dir = dirname(require.resolve('uWebSockets.js/package.json'));
  return require(join(dir, 'binaries', binaryName())) as Uws;
}

const BUILDS: { name: UwsBuildName; version: string; load: () => Uws }[] = [
  { name: 'uws-20.57', version: '20.57.0', load: load2057 },
  { name: 'uws-20.30', version: '20.30.0', load: load2030 },
];

/** The first uWS build that loads natively on this platform, and why the others did not. */
export function loadUwsBuild(): { build: UwsBuild | null; misses: UwsMiss[] } {
  const misses: UwsMiss[] = [];
  for (const { name, version, load } of BUILDS) {
    try {
      const uws = load();
      if (!String(uws.App).includes('[native code]')) throw new Error('not a native build');
      return { build: { name, version, uws }, misses };
    } catch (error) {
      misses.push({ name, why: explainMiss(name, error) });
    }
  }
  return { build: null, misses };
}

function explainMiss(name: UwsBuildName, error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const glibc = /GLIBC_(\d+\.\d+)' not found/.exec(text);
  if (glibc) return `needs glibc >= ${glibc[1]} (this system has ${platformLibc()})`;
  if (name === 'uws-20.30' && /Cannot find module/.test(text)) {
    return `has no binary for ${process.platform}-${process.arch} on Node ${process.versions.node} (it ships Node 16, 18 and 20)`;
  }
  if (name === 'uws-20.57' && /supports only/.test(text)) {
    return `has no binary for ${process.platform}-${process.arch} on Node ${process.versions.node} (it ships Node 20, 22, 24 and 25 on glibc Linux, macOS and Windows)`;
  }
  return text.split('\n')[0] ?? text;
}

/** `glibc 2.36`, or what stands in its place (musl, or another OS). */
export function platformLibc(): string {
  if (process.platform !== 'linux') return process.platform;
  const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
  const glibc = report.header?.glibcVersionRuntime;
  return glibc ? `glibc ${glibc}` : 'a libc other than glibc (musl?)';
}
