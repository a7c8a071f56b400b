// The package's public face: what this file exports is a contract; everything else may change.
export { startServer, type ServerHandle } from './start-server.ts';
export type { AuthOptions, LogLevel, ServerOptions } from './server-options.ts';
export {
  defineTool,
  type ApprovalPolicyRule,
  type NeedsApproval,
  type ToolArgsSchema,
  type ToolContext,
  type ToolDefinition,
} from './agent/tool.ts';
export { InvalidToolError } from './agent/tool-validation.ts';
export { builtinTools } from './agent/builtin-tools.ts';
export { createLedger, type Ledger } from './agent/ledger.ts';
export { createBuiltinPlanner } from './agent/builtin-planner.ts';
export type { Planner, PlannerContext, PlannerStep } from './agent/planner.ts';
export { createOpenAIPlanner, type OpenAIPlannerOptions } from './agent/openai/index.ts';
export type {
  ApprovalRequest,
  AssistantMessage,
  AssistantToolCall,
  DiscardedTurn,
  HistoryEntry,
  TokenUsage,
  PlannerInput,
  SessionState,
  ToolCall,
} from '../machines/session.types.ts';
export type { PlanStep, ToolArgs } from '../machines/session.events.ts';
export type { ApprovalPolicy, ApprovalPolicyInput, Vote } from '../machines/session.policy.ts';
export { AppError } from './errors.ts';
export { ConfigError } from './config.ts';
export type { Clock } from './runtime/clock.ts';
export type {
  ServerLimits,
  SocketLimits,
  TransportPreference,
  UserLimits,
} from './server/index.ts';
export type { Store } from './store/store.ts';
export type { InboundMessage, InboundOf, InboundType } from './protocol/inbound.ts';
export type {
  OutboundEvent,
  OutboundOf,
  OutboundType,
  PendingApproval,
} from './protocol/outbound.ts';
