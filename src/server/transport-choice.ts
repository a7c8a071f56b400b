import { loadUwsBuild, platformLibc, type UwsBuild } from './uws/uws-build.ts';

export type TransportPreference = 'auto' | 'uws' | 'portable';

export type TransportChoice =
  { kind: 'uws'; build: UwsBuild; notice: string } | { kind: 'portable'; notice: string };

export class TransportUnavailableError extends Error {
  readonly code = 'transport_unavailable';
}

/**
 * uWS v20.57 where it loads, else v20.30, else the portable `ws` + node:http transport, never
 * silently: the notice says which one runs and why. TRANSPORT=uws refuses to fall back.
 */
export function chooseTransport(preference: TransportPreference): TransportChoice {
  if (preference === 'portable') {
    return {
      kind: 'portable',
      notice: 'transport: portable (ws + node:http), as TRANSPORT=portable asks',
    };
  }
  const { build, misses } = loadUwsBuild();
  const missed = misses.map((m) => `uWebSockets.js ${m.name.slice(4)} ${m.why}`).join('; ');
  if (build) {
    const also = missed ? ` (${missed})` : '';
    return {
      kind: 'uws',
      build,
      notice: `transport: uWebSockets.js ${build.version} (native)${also}`,
    };
  }
  const platform = `Node ${process.versions.node} on ${process.platform}-${process.arch} with ${platformLibc()}`;
  if (preference === 'uws') {
    throw new TransportUnavailableError(
      `TRANSPORT=uws, but no uWebSockets.js build loads on ${platform}: ${missed}. ` +
        'Use Node 20 on glibc >= 2.27, or Node 20-25 on glibc >= 2.38 (Debian 13, Ubuntu 24.04), ' +
        'or unset TRANSPORT to run the portable transport.',
    );
  }
  return {
    kind: 'portable',
    notice:
      `transport: portable (ws + node:http), because no uWebSockets.js build loads on ${platform}: ${missed}. ` +
      'uWS would need Node 20 on glibc >= 2.27, or Node 20-25 on glibc >= 2.38; it serves more flows per CPU ' +
      '(see docs/benchmarks.md, "Transports")',
  };
}
