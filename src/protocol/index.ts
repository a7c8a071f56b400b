export * from './inbound.ts';
export * from './outbound.ts';
export * from './codec.ts';
