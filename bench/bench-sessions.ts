import { pool } from './pool.ts';

/** Above the planner's 100 limit: every transfer asks for approval. */
const AMOUNT = 250;

/** A one-step plan: a 250 USD transfer out of `operating`, or back (so no account runs dry). */
export function transferPlan(outbound: boolean) {
  const args = outbound
    ? { to: 'bob', amount: AMOUNT, currency: 'USD', from: 'operating' }
    : { to: 'operating', amount: AMOUNT, currency: 'USD', from: 'bob' };
  return [{ tool: 'transfer', args }];
}

/**
 * Creates sessions over REST, `concurrency` at a time, the i-th on (so owned by, in a
 * cluster) `urlOf(i)`; ids in creation order.
 */
export function createSessions(
  urlOf: string | ((i: number) => string),
  count: number,
  concurrency = 64,
): Promise<string[]> {
  return pool(count, concurrency, async (i) => {
    const url = typeof urlOf === 'string' ? urlOf : urlOf(i);
    const response = await fetch(`${url}/api/v1/sessions`, { method: 'POST' });
    if (response.status !== 201) throw new Error(`create session: ${response.status}`);
    return ((await response.json()) as { id: string }).id;
  });
}
