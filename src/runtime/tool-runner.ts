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
   * Resolves once the session's events and snapshot so far are stored. A restore from an older
   * snapshot plans the step again under a new call id, so a call must not start before the
   * snapshot that names it is durable.
   */
  persisted?: (sessionId: string) => Promise<void>;
}

/**
 * Runs one tool call. A non-idempotent tool's outcome is recorded by call id, so a restored
 * session (whose pending promise runs again) returns the recorded result instead of running
 * twice, and a call that started but never recorded an end goes back to a human.
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

  await deps.persisted?.(input.session_id);
  // Cancelled while waiting above (the `cancelled` event already named this call as aborted).
  if (signal.aborted) throw abortError(signal);

  // One round trip in the usual case: the start record goes in unless the call id has one.
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
    if (signal.aborted) throw abortError(signal);
    const result = await deps.registry.run(call.tool, call.args, context);
    await deps.store.recordToolOutcome({
      status: 'succeeded',
      call_id: call.call_id,
      tool: call.tool,
      result,
    });
    return result;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await deps.store.recordToolOutcome({
      status: 'failed',
      call_id: call.call_id,
      tool: call.tool,
      error: message,
    });
    throw error;
  }
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
