import { createActor, fromCallback, fromPromise } from 'xstate';
import type { SessionEmitted } from '../../machines/session.emitted.ts';
import type { SessionEvent } from '../../machines/session.events.ts';
import {
  sessionMachine,
  type ApprovalRequest,
  type ApprovalTimerInput,
  type PlannerInput,
  type PlannerOutput,
  type SessionInput,
  type ToolCall,
  type ToolInput,
} from '../../machines/session.machine.ts';

/**
 * Test harness for the session machine alone: the planner and tool are fromPromise actors the
 * test settles by hand, the approval timer fires when told, subagents are the machine itself.
 */

/** One in-flight invocation of a provided fromPromise actor, settled by the test. */
export interface Invocation<I, O> {
  input: I;
  signal: AbortSignal;
  resolve(value: O): void;
  reject(error: unknown): void;
}

/** Everything here settles through promises, so flushing microtasks is enough (fake timers too). */
export async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2_000; i++) {
    if (check()) return;
    await Promise.resolve();
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function controlled<I, O>() {
  const calls: Invocation<I, O>[] = [];
  const logic = fromPromise<O, I>(
    ({ input, signal }) =>
      new Promise<O>((resolve, reject) => calls.push({ input, signal, resolve, reject })),
  );
  return {
    logic,
    calls,
    async nth(n: number): Promise<Invocation<I, O>> {
      await until(() => calls.length >= n, `invocation #${n}`);
      return calls[n - 1]!;
    },
  };
}

interface ManualTimer {
  input: ApprovalTimerInput;
  stopped: boolean;
  fire(): void;
}

export function machineWith(
  actors: Omit<Parameters<typeof sessionMachine.provide>[0]['actors'] & object, 'subagent'>,
  maxDepth: number,
) {
  const tooDeep = fromPromise<unknown, SessionInput>(() =>
    Promise.reject(new Error('subagents may not delegate any deeper')),
  );
  let logic = sessionMachine.provide({ actors: { ...actors, subagent: tooDeep } });
  for (let depth = 1; depth < maxDepth; depth++) {
    logic = sessionMachine.provide({
      actors: { ...actors, subagent: logic as unknown as typeof tooDeep },
    });
  }
  return logic;
}

export function start(options: { maxDepth?: number; realTimer?: boolean } = {}) {
  const planner = controlled<PlannerInput, PlannerOutput>();
  const tool = controlled<ToolInput, unknown>();
  const timers: ManualTimer[] = [];
  const approvalTimer = fromCallback<
    { type: 'approval.expired'; request_id: string },
    ApprovalTimerInput
  >(({ input, sendBack }) => {
    const timer: ManualTimer = {
      input,
      stopped: false,
      fire: () => sendBack({ type: 'approval.expired', request_id: input.request_id }),
    };
    timers.push(timer);
    return () => {
      timer.stopped = true;
    };
  });
  const actors = options.realTimer
    ? { planner: planner.logic, tool: tool.logic }
    : { planner: planner.logic, tool: tool.logic, approvalTimer };
  const actor = createActor(machineWith(actors, options.maxDepth ?? 2), {
    input: { session_id: 'ses_1' },
  });
  const emitted: SessionEmitted[] = [];
  actor.on('*', (event) => emitted.push(event));
  actor.start();
  const state = () => actor.getSnapshot().value;
  const reach = (value: unknown) =>
    until(
      () => JSON.stringify(state()) === JSON.stringify(value),
      `${JSON.stringify(value)}, still ${JSON.stringify(state())}`,
    );
  const types = () => emitted.map((e) => e.type);
  const find = <T extends SessionEmitted['type']>(type: T) =>
    emitted.find((e): e is Extract<SessionEmitted, { type: T }> => e.type === type);
  return { actor, planner, tool, timers, emitted, state, reach, types, find };
}

export type Harness = ReturnType<typeof start>;

export const BY = 'alice';
export const execute = (execution_id = 'exec_1'): Extract<SessionEvent, { type: 'execute' }> => ({
  type: 'execute',
  command: 'pay bob',
  execution_id,
  by: BY,
});
export const call = (
  call_id: string,
  tool = 'transfer',
  args: Record<string, unknown> = { to: 'bob', amount: 500 },
): ToolCall => ({
  call_id,
  tool,
  args,
});
export const approvalOf = (c: ToolCall, request_id = `req_${c.call_id}`): ApprovalRequest => ({
  ...c,
  request_id,
  reason: 'above the limit',
  expires_at: '2030-01-01T00:00:00.000Z',
});

/** idle -> thinking -> awaiting_approval on call c1 (request req_c1). */
export async function toAwaiting(h: Harness, c = call('c1')): Promise<ApprovalRequest> {
  h.actor.send(execute());
  const approval = approvalOf(c);
  (await h.planner.nth(1)).resolve({ kind: 'call', call: c, approval });
  await h.reach('awaiting_approval');
  return approval;
}

/** idle -> thinking -> executing a call that needs no approval. */
export async function toExecuting(h: Harness, c = call('c1', 'echo', { text: 'hi' })) {
  h.actor.send(execute());
  (await h.planner.nth(1)).resolve({ kind: 'call', call: c, approval: null });
  await h.reach({ executing: 'tool' });
  return h.tool.nth(1);
}

export const approve = (request_id = 'req_c1'): SessionEvent => ({
  type: 'approve',
  request_id,
  by: BY,
});
export const reject = (request_id = 'req_c1', reason?: string): SessionEvent => ({
  type: 'reject',
  request_id,
  by: BY,
  ...(reason === undefined ? {} : { reason }),
});
export const edit = (
  edited_args: Record<string, unknown>,
  request_id = 'req_c1',
): SessionEvent => ({
  type: 'edit',
  request_id,
  edited_args,
  by: BY,
});
export const cancel = (execution_id?: string): SessionEvent => ({
  type: 'cancel',
  by: 'carol',
  ...(execution_id === undefined ? {} : { execution_id }),
});
