export * from './clock.ts';
export * from './ids.ts';
export * from './session-runtime.ts';
export type { SessionHost } from './session-host.ts';
export type { EventListener } from './event-fanout.ts';
export type { RuntimeObserver } from './runtime-observer.ts';
export { ballotOf, withBallots, type BallotView } from './ballots.ts';
export { SessionElsewhere, type Placement, type ReleaseReason } from './placement.ts';
export type { Ballots, SessionService, SessionView } from './session-service.ts';
