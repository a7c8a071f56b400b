import uWS from 'uWebSockets.js';

/**
 * The npm build of uWebSockets.js silently falls back to a pure-JS implementation when its
 * native binary cannot load; that fallback is not what we measure or support.
 */
export function assertNativeUws(): void {
  if (!String(uWS.App).includes('[native code]')) {
    throw new Error(
      'uWebSockets.js native binary did not load (pure-JS fallback detected); this platform is not supported',
    );
  }
}
