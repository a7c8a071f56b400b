import type { HistoryEntry, PlannerInput } from '../../machines/session.types.ts';
import type { Planner, PlannerStep } from '../../src/agent/planner.ts';
import { AppError } from '../../src/errors.ts';

export function plannerInput(overrides: Partial<PlannerInput> = {}): PlannerInput {
  return {
    session_id: 'ses_1',
    execution_id: 'exec_1',
    command: 'pay alice 250 USD',
    plan: null,
    history: [],
    depth: 0,
    ...overrides,
  };
}

/** Runs one planner step, collecting the deltas it streamed: `[message_id, delta]` pairs. */
export async function step(
  planner: Planner,
  input: PlannerInput,
  signal = new AbortController().signal,
): Promise<{ step: PlannerStep; deltas: Array<[string, string]> }> {
  const deltas: Array<[string, string]> = [];
  const result = await planner.next(input, {
    signal,
    onDelta: (id, delta) => deltas.push([id, delta]),
  });
  return { step: result, deltas };
}

/** The AppError a promise rejects with; fails when it resolves or rejects with anything else. */
export async function appErrorOf(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw error;
  return error;
}

/** The `message` history entry a machine stores for a step that came with a model turn. */
export function messageEntry(planned: PlannerStep): HistoryEntry {
  if (!planned.message) throw new Error('the step carries no message');
  return { kind: 'message', message: planned.message };
}
