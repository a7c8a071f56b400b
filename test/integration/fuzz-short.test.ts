import { describe, expect, it } from 'vitest';
import { runFuzz } from '../../scripts/fuzz-run.ts';
import { testTargets } from '../support/targets.ts';
import { useTestApp } from './harness.ts';

// A short round of `npm run fuzz` (scripts/fuzz.ts) against the in-process server: the same
// frames and checks, a fixed seed, few enough frames for `npm test`.
describe.each(testTargets())('fuzz round on $name', (target) => {
  const h = useTestApp(target, { authMode: 'dev' });

  it('survives 3000 hostile frames with no leak, no internal_error, and a flow that completes after', async () => {
    const { stats } = await runFuzz({ baseUrl: h.app.url, frames: 3000, seed: 20261202 });
    expect(stats.findings).toEqual([]);
    expect(stats.framesSent).toBeGreaterThanOrEqual(3000);
    // The fuzz reached the codec's refusals, the size limit, and the by-design closes.
    expect(stats.errorCodes.get('invalid_message')).toBeGreaterThan(0);
    expect(stats.errorCodes.get('message_too_large')).toBeGreaterThan(0);
    expect(stats.errorCodes.get('binary_not_supported')).toBeGreaterThan(0);
    expect([...stats.closes.keys()].some((code) => ['1006', '1007', '1009'].includes(code))).toBe(
      true,
    );
  }, 60_000);
});
