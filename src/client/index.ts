export {
  connectSession,
  createSessionClient,
  socketUrl,
  type ClientStatus,
  type SessionClient,
  type SessionClientOptions,
  type WaitOptions,
} from './session-client.ts';
export { SessionClientError, type ClientErrorCode } from './errors.ts';
export { DEFAULT_RECONNECT, backoffDelay, type ReconnectOptions } from './backoff.ts';
export type { EventHandler, EventHandlers } from './handlers.ts';
export type { PlanInput, SessionCommands, VoteDecision } from './commands.ts';
export {
  browserTransport,
  defaultTransport,
  nodeTransport,
  type Transport,
  type TransportEvents,
  type TransportFactory,
  type TransportRequest,
  type WebSocketClass,
} from './transport.ts';
export type { InboundMessage, InboundOf } from '../protocol/inbound.ts';
export type {
  OutboundEvent,
  OutboundOf,
  OutboundType,
  PendingApproval,
} from '../protocol/outbound.ts';
export { listApprovals, type ApprovalListing, type ListApprovalsOptions } from './approvals.ts';
