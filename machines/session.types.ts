import type { PlanStep, ToolArgs } from './session.events.ts';
import type { Ballot } from './session.policy.ts';

/** Bump when a change to the statechart makes old snapshots unsafe to restore. */
export const SESSION_MACHINE_VERSION = 1;

export const sessionStates = [
  'idle',
  'thinking',
  'awaiting_approval',
  'executing',
  'complete',
  'cancelled',
  'failed',
] as const;
export type SessionState = (typeof sessionStates)[number];

export interface ToolCall {
  call_id: string;
  tool: string;
  args: ToolArgs;
  /**
   * The call this one stands in for: a call whose outcome was unknown after a crash is asked
   * again under a new id, and its outcome answers the original (what the model asked for).
   */
  replaces?: string;
}

/** A call waiting for humans; its ballot (policy, votes so far) is absent under the default policy. */
export interface ApprovalRequest extends ToolCall, Ballot {
  request_id: string;
  reason: string;
  expires_at: string;
}

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface AssistantToolCall {
  call_id: string;
  model_call_id: string;
  tool: string;
  args: ToolArgs;
}

/** One model turn, stored as a `message` event and kept in history so the next turn can be rebuilt. */
export interface AssistantMessage {
  message_id: string;
  text: string;
  model: string;
  finish_reason: string | null;
  usage: TokenUsage | null;
  tool_calls: AssistantToolCall[];
}

/** What the planner sees of earlier steps of the execution. */
export type HistoryEntry =
  | ({ kind: 'result'; result: unknown } & ToolCall)
  | ({ kind: 'rejected'; reason: string; by: string } & ToolCall)
  | { kind: 'message'; message: AssistantMessage };

export interface SessionInput {
  session_id: string;
  /** 0 for a session, 1+ for a subagent spawned by `delegate`. */
  depth?: number;
  parent_call_id?: string;
}

export interface SessionContext {
  session_id: string;
  depth: number;
  parent_call_id: string | null;
  execution_id: string | null;
  executed_by: string | null;
  command: string | null;
  plan: PlanStep[] | null;
  history: HistoryEntry[];
  current_call: ToolCall | null;
  pending: ApprovalRequest | null;
  summary: string | null;
  error: { code: string; message: string } | null;
  executions: number;
}

export interface PlannerInput {
  session_id: string;
  execution_id: string;
  command: string;
  plan: PlanStep[] | null;
  history: HistoryEntry[];
  depth: number;
}

/** One planner step: the next tool call (with its approval request if policy needs one), or the answer. */
/** A model turn the planner did not act on (its calls could not run), kept for the audit log. */
export interface DiscardedTurn {
  message: AssistantMessage;
  /** Why nothing of it ran. */
  problem: string;
}

/** What a planning step brings besides the call or answer: the model turns behind it. */
interface ModelTurns {
  message?: AssistantMessage;
  discarded?: DiscardedTurn[];
}

export type PlannerOutput =
  | ({ kind: 'final'; summary: string } & ModelTurns)
  | ({ kind: 'call'; call: ToolCall; approval: ApprovalRequest | null } & ModelTurns);

export interface ToolInput {
  session_id: string;
  execution_id: string;
  call: ToolCall;
  depth: number;
}

export interface ApprovalTimerInput {
  session_id: string;
  request_id: string;
  expires_at: string;
  /** The expiry escalates the request (the policy has an escalation left) instead of ending it. */
  escalates: boolean;
}

/**
 * A tool actor rejects with this shape when a non-idempotent call may or may not have run
 * (a crash between start and result): the call goes back to a human instead of running again.
 */
export class ToolOutcomeUnknown extends Error {
  readonly code = 'tool_outcome_unknown';
  readonly approval: ApprovalRequest;

  constructor(message: string, approval: ApprovalRequest) {
    super(message);
    this.name = 'ToolOutcomeUnknown';
    this.approval = approval;
  }
}

export function isToolOutcomeUnknown(error: unknown): error is ToolOutcomeUnknown {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { code?: unknown }).code === 'tool_outcome_unknown' &&
    typeof (error as { approval?: unknown }).approval === 'object'
  );
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error) {
    const message: unknown = error.message;
    return typeof message === 'string' ? message : JSON.stringify(message);
  }
  return String(error);
}
