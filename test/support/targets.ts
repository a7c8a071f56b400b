import { loadUwsBuild } from '../../src/server/uws/uws-build.ts';
import { testBackends, type Backend } from './stores.ts';

export type TransportName = 'uws' | 'portable';

/** One store backend on one transport: what a suite runs against. */
export interface Target {
  backend: Backend;
  transport: TransportName;
  /** `pglite/uws`, for test titles (`$name`). */
  name: string;
}

/** uWS when a build loads on this machine (Node 20 here), and the portable transport always. */
export function testTransports(): TransportName[] {
  return loadUwsBuild().build ? ['uws', 'portable'] : ['portable'];
}

/** Every backend on every transport that can run here. */
export function testTargets(): Target[] {
  return testBackends().flatMap((backend) =>
    testTransports().map((transport) => ({ backend, transport, name: `${backend}/${transport}` })),
  );
}
