import type { Store } from '../../src/store/store.ts';
import { CRASH_ACCOUNT } from './scenarios.ts';

/**
 * Simulates a crash in the middle of a transfer, the one thing a live server cannot be made to
 * do on cue: a transfer to the `crashed` account records its start (as it would before the
 * process died) and then reports the row as already there, which is what a restarted process
 * finds. The tool runner then answers `tool_outcome_unknown` and hands the call to a human.
 * The call a human approves after that (its call id has an approval) runs normally.
 */
export function createCrashStore(inner: Store): Store {
  async function recordToolStart(
    outcome: Parameters<Store['recordToolStart']>[0],
    sessionId: string,
  ): Promise<boolean> {
    if (outcome.tool === 'transfer' && outcome.args['to'] === CRASH_ACCOUNT) {
      const approvals = await inner.listApprovals({ session_id: sessionId });
      if (!approvals.some((approval) => approval.call_id === outcome.call_id)) {
        await inner.recordToolStart(outcome, sessionId);
        return false;
      }
    }
    return inner.recordToolStart(outcome, sessionId);
  }
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'recordToolStart') return recordToolStart;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}
