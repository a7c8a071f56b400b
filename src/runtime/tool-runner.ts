import {
  ToolOutcomeUnknown,
  type ApprovalRequest,
  type ToolInput,
} from '../../machines/session.types.ts';
import { abortError, type ToolContext } from '../agent/tool.ts';
import type { ToolRegistry } from '../agent/tool-registry.ts';
import { AppError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import { newId } from './ids.ts';

export interface ToolRunnerDeps {
  registry: ToolRegistry;
  store: Store;
  /** Builds the approval request a human answers when a call's outcome is unknown. */
  approvalFor(call: Omit<ApprovalRequest, 'request_id' | 'expires_at'>): ApprovalRequest;
  /**
   * Resolves once the session's events and snapshot so far are stored, with true when the
   * session stored this call's start itself (with its `tool_call`): the call is new. A
   * restored session never did; the call's stored outcome decides then. A restore from an
   * older snapshot plans the step again under a new call id, so a call must not start before
   * the snapshot that names it is durable.
   */
  started?: (sessionId: string, callId: string) => Promise<boolean>;
}

/**
 * Runs one tool call. A non-idempotent tool's start is stored with its `tool_call` and its
 * outcome with the `tool_result` (or the error) that ends it, in the session's own writes, so
 * a restored session (whose pending promise runs again) returns the recorded result instead
 * of running twice, and a call that started but never recorded an end goes back to a human.
 */
export async function runToolCall(
  deps: ToolRunnerDeps,
  input: ToolInput,
  signal: AbortSignal,
): Promise<unknown> {
  const { call } = input;
  const context: ToolContext = {
    signal,
    sessionId: input.session_id,
    executionId: input.execution_id,
    callId: call.call_id,
  };
  const tool = deps.registry.get(call.tool);
  if (!tool || tool.idempotent) return deps.registry.run(call.tool, call.args, context);

  const fresh = (await deps.started?.(input.session_id, call.call_id)) ?? false;
  if (!fresh) return runRestored(deps, input, context);
  // Cancelled while waiting above (the `cancelled` event already named this call as aborted):
  // its stored start gets an outcome that says it never ran.
  if (signal.aborted) {
    await recordFailure(deps, input, new Error('cancelled before it ran'));
    throw abortError(signal);
  }
  try {
    return await deps.registry.run(call.tool, call.args, context);
  } catch (error) {
    // A cancel ends the execution without an error event to carry the outcome: stored here.
    if (signal.aborted) await recordFailure(deps, input, error);
    throw error;
  }
}

/**
 * A call the session did not start in this process: its stored outcome answers, or it never
 * started (a log from before the start went in with the `tool_call`) and starts now, recording
 * its own start and outcome.
 */
async function runRestored(
  deps: ToolRunnerDeps,
  input: ToolInput,
  context: ToolContext,
): Promise<unknown> {
  const { call } = input;
  if (context.signal.aborted) throw abortError(context.signal);
  const fresh = await deps.store.recordToolStart(
    { status: 'started', call_id: call.call_id, tool: call.tool, args: call.args },
    input.session_id,
  );
  if (!fresh) {
    const prior = await deps.store.getToolOutcome(call.call_id);
    if (prior?.status === 'succeeded') return prior.result;
    if (prior?.status === 'failed') throw new AppError('tool_error', prior.error);
    throw outcomeUnknown(deps, input);
  }
  try {
    // Cancelled during the start record: recorded as failed, for it never ran.
    if (context.signal.aborted) throw abortError(context.signal);
    const result = await deps.registry.run(call.tool, call.args, context);
    await deps.store.recordToolOutcome(
      { status: 'succeeded', call_id: call.call_id, tool: call.tool, result },
      input.session_id,
    );
    return result;
  } catch (error) {
    await recordFailure(deps, input, error);
    throw error;
  }
}

function recordFailure(deps: ToolRunnerDeps, input: ToolInput, error: unknown): Promise<void> {
  return deps.store.recordToolOutcome(
    {
      status: 'failed',
      call_id: input.call.call_id,
      tool: input.call.tool,
      error: error instanceof Error ? error.message : String(error),
    },
    input.session_id,
  );
}

function outcomeUnknown(deps: ToolRunnerDeps, input: ToolInput): ToolOutcomeUnknown {
  const { call } = input;
  return new ToolOutcomeUnknown(
    `${call.tool} call ${call.call_id} started but its outcome was not recorded (the process stopped); it will not run again without a new approval`,
    deps.approvalFor({
      call_id: newId('call'),
      tool: call.tool,
      args: call.args,
      replaces: call.replaces ?? call.call_id,
      reason: `the outcome of ${call.tool} call ${call.call_id} is unknown after a restart: check before approving it again`,
    }),
  );
}
