import { AppError } from '../errors.ts';

/** NATS answered "no responders": no node serves the session's command subject. */
export class NoOwnerResponding extends AppError {
  constructor(sessionId: string) {
    super('owner_not_responding', `no node serves session ${sessionId} right now`, 503);
    this.name = 'NoOwnerResponding';
  }
}

/** The owner took the command but did not answer in time: it may or may not have applied it. */
export class ForwardTimeout extends AppError {
  constructor(sessionId: string, timeoutMs: number) {
    super(
      'forward_timeout',
      `the node serving session ${sessionId} did not answer within ${timeoutMs} ms`,
      504,
    );
    this.name = 'ForwardTimeout';
  }
}

/** This node has no NATS connection: commands for sessions owned elsewhere cannot go through. */
export class BusUnavailable extends AppError {
  constructor(reason = 'the cluster bus (NATS) is disconnected') {
    super('bus_unavailable', `${reason}; retry shortly`, 503, { retry_after_ms: 1_000 });
    this.name = 'BusUnavailable';
  }
}

/** What came back over the bus is not a reply this runtime understands. */
export class BadForwardReply extends AppError {
  constructor(detail: string) {
    super('bad_forward_reply', `the owning node sent an unreadable reply: ${detail}`, 502);
    this.name = 'BadForwardReply';
  }
}
