export * from './bus-errors.ts';
export { commandSubject, eventSubject } from './bus-subjects.ts';
export * from './command-wire.ts';
export { decodeEventFrame } from './event-wire.ts';
export * from './follower-set.ts';
export * from './nats-bus.ts';
export * from './session-follower.ts';
