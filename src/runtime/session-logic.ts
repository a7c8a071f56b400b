import { toStorable } from '../protocol/storable-json.ts';
import { fromCallback, fromPromise } from 'xstate';
import { sessionMachine } from '../../machines/session.machine.ts';
import type {
  ApprovalRequest,
  ApprovalTimerInput,
  PlannerInput,
  PlannerOutput,
  SessionInput,
  ToolInput,
} from '../../machines/session.types.ts';
import type { Planner, PlannerStep } from '../agent/planner.ts';
import type { ToolRegistry } from '../agent/tool-registry.ts';
import type { Logger } from 'pino';
import { isToolOutcomeUnknown } from '../../machines/session.types.ts';
import { resolvePolicy } from '../../machines/session.policy.ts';
import { AppError, isAppError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import type { Clock } from './clock.ts';
import { newId } from './ids.ts';
import { runToolCall } from './tool-runner.ts';

export interface SessionLogicDeps {
  planner: Planner;
  registry: ToolRegistry;
  store: Store;
  clock: Clock;
  approvalTtlMs: number;
  /**
   * Resolves once the session's events and snapshot so far are stored, telling whether the
   * session stored the call's start itself (see tool-runner.ts).
   */
  started: (sessionId: string, callId: string) => Promise<boolean>;
  /**
   * Commits an expiry decision; resolves true when it won (nobody decided first). With
   * `escalate`, nothing is committed: it is called in the session's turn instead.
   */
  expire(sessionId: string, requestId: string, escalate?: () => void): Promise<boolean>;
  /** Where streamed planner text goes (the session's sockets); nowhere when absent. */
  streams?: PlannerStreams;
  /** How deep `delegate` may nest subagents. */
  maxDepth?: number;
  logger: Logger;
}

export type SessionLogic = ReturnType<typeof createSessionLogic>;

function storableError(error: AppError): AppError {
  const message = toStorable(error.message);
  return message === error.message
    ? error
    : new AppError(error.code, message, error.status, error.details);
}

/** The runtime's side of `PlannerContext.onDelta`, per session. */
export interface PlannerStreams {
  delta(sessionId: string, executionId: string, messageId: string, delta: string): void;
  /** The planner step is over: whatever is buffered goes out now, and the stream is closed. */
  end(sessionId: string): void;
}

/** The session machine with the real planner, tool runner, expiry timer and subagents. */
export function createSessionLogic(deps: SessionLogicDeps) {
  const approvalFor = (
    call: Omit<ApprovalRequest, 'request_id' | 'expires_at'>,
  ): ApprovalRequest => {
    const declared = deps.registry.approvalPolicy(call.tool, call.args);
    return {
      ...call,
      request_id: newId('req'),
      expires_at: new Date(deps.clock.now() + deps.approvalTtlMs).toISOString(),
      ...(declared ? { policy: resolvePolicy(declared, deps.approvalTtlMs) } : {}),
    };
  };

  /** What reaches the stored `error` event: AppError messages; anything else is logged only. */
  const safe = async <T>(
    what: string,
    sessionId: string,
    signal: AbortSignal,
    run: () => Promise<T>,
  ): Promise<T> => {
    try {
      // What a tool or a model returns goes into the snapshot and the log, which refuse NUL
      // and lone surrogates: they become U+FFFD here, before the machine sees them.
      return toStorable(await run());
    } catch (error) {
      if (isAppError(error)) throw storableError(error);
      if (signal.aborted || isToolOutcomeUnknown(error)) throw error;
      deps.logger.error({ err: error, sessionId }, `${what} failed`);
      throw new AppError(`${what}_error`, `${what} failed: internal error`, 500);
    }
  };

  const planner = fromPromise<PlannerOutput, PlannerInput>(({ input, signal }) =>
    safe('planner', input.session_id, signal, () => plan(input, signal)),
  );

  async function plan(input: PlannerInput, signal: AbortSignal): Promise<PlannerOutput> {
    const onDelta = (messageId: string, delta: string) =>
      deps.streams?.delta(input.session_id, input.execution_id, messageId, delta);
    let step: PlannerStep;
    try {
      step = await deps.planner.next(input, { signal, onDelta });
    } finally {
      // Every delta is out before the step's `message` event can be stored and sent.
      deps.streams?.end(input.session_id);
    }
    if (step.kind === 'final') return step;
    const call = { call_id: step.call_id ?? newId('call'), tool: step.tool, args: step.args };
    const reason = deps.registry.approvalReason(call.tool, call.args);
    return {
      kind: 'call',
      call,
      approval: reason === null ? null : approvalFor({ ...call, reason }),
      ...(step.message ? { message: step.message } : {}),
      ...(step.discarded ? { discarded: step.discarded } : {}),
    };
  }

  const tool = fromPromise<unknown, ToolInput>(({ input, signal }) =>
    safe('tool', input.session_id, signal, () =>
      runToolCall(
        { registry: deps.registry, store: deps.store, approvalFor, started: deps.started },
        input,
        signal,
      ),
    ),
  );

  // Armed from the absolute deadline, so a restored session re-arms it with the time left.
  // An expiry that escalates commits nothing: the chart hands the request on, in the session's turn.
  const approvalTimer = fromCallback<
    { type: 'approval.expired'; request_id: string; at?: number },
    ApprovalTimerInput
  >(({ input, sendBack }) => {
    const expired = () =>
      sendBack({ type: 'approval.expired', request_id: input.request_id, at: deps.clock.now() });
    const deadline = Date.parse(input.expires_at);
    const fire = () => {
      // A timer may fire a millisecond before the wall clock reaches its deadline: never early.
      if (deps.clock.now() < deadline) return arm();
      const escalate = input.escalates ? expired : undefined;
      void deps.expire(input.session_id, input.request_id, escalate).then((won) => {
        if (won) expired();
      });
    };
    let handle: ReturnType<Clock['setTimeout']>;
    const arm = () => {
      handle = deps.clock.setTimeout(fire, deadline - deps.clock.now());
    };
    arm();
    return () => deps.clock.clearTimeout(handle);
  });

  const tooDeep = fromPromise<unknown, SessionInput>(() =>
    Promise.reject(new AppError('delegation_too_deep', 'subagents may not delegate any deeper')),
  );

  const base = { planner, tool, approvalTimer };
  let logic = sessionMachine.provide({ actors: { ...base, subagent: tooDeep } });
  for (let depth = 1; depth < (deps.maxDepth ?? 3); depth++) {
    logic = sessionMachine.provide({
      actors: { ...base, subagent: logic as unknown as typeof tooDeep },
    });
  }
  return sessionMachine.provide({
    actors: { ...base, subagent: logic as unknown as typeof tooDeep },
  });
}
