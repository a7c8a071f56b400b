export * from './server.ts';
export type { SocketLimits } from './ws-route.ts';
