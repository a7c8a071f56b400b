export * from './principal.ts';
export * from './authenticator.ts';
