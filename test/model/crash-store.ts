import type { Store } from '../../src/store/store.ts';
import { CRASH_ACCOUNT } from './scenarios.ts';

/**
 * Simulates a crash in the middle of a transfer, the one thing a live server cannot be made to
 * do on cue: the start of a transfer to the `crashed` account is found already recorded when
 * the session stores it with its `tool_call`, as a restarted process finds it (the start went
 * in, the process died). The tool runner, finding that row and no outcome, then answers
 * `tool_outcome_unknown` and hands the call to a human. The call a human approves after that
 * (its call id has an approval) runs normally.
 */
export function createCrashStore(inner: Store): Store {
  const crashes = async (
    start: { call_id: string; tool: string; args: Record<string, unknown> },
    sessionId: string,
  ) => {
    if (start.tool !== 'transfer' || start.args['to'] !== CRASH_ACCOUNT) return false;
    const approvals = await inner.listApprovals({ session_id: sessionId });
    return !approvals.some((approval) => approval.call_id === start.call_id);
  };
  const appendEvents: Store['appendEvents'] = async (events, snapshot, rows = {}) => {
    for (const start of rows.toolStarts ?? []) {
      if (await crashes(start, start.session_id))
        await inner.recordToolStart(start, start.session_id);
    }
    return inner.appendEvents(events, snapshot, rows);
  };
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'appendEvents') return appendEvents;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}
