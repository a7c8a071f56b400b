export * from './server.ts';
export type { UserLimits } from './user-limits.ts';
export type { SocketLimits } from './connection.ts';
export { TransportUnavailableError, type TransportPreference } from './transport-choice.ts';
export { createServerMetrics, type ServerMetrics } from './metrics.ts';
