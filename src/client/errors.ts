import type { OutboundOf } from '../protocol/outbound.ts';

/**
 * Codes the client raises itself; every other code is the server's (see docs/errors.md),
 * taken from the `error` event that answered the call.
 */
export type ClientErrorCode =
  /** The call or `waitFor` got no answer in time. */
  | 'timeout'
  /** The connection dropped after the command was sent and its outcome is unknown. */
  | 'connection_lost'
  /** The client was closed, or gave up reconnecting, before the answer came. */
  | 'closed'
  /** The server refused the WebSocket upgrade (see `status`). */
  | 'upgrade_refused'
  /** The connection could not be opened (network error, timeout). */
  | 'connect_failed'
  /** The server sent a frame that is not a valid v1 event. */
  | 'invalid_event';

/** The one error class of the client: a stable snake_case `code`, as on the wire. */
export class SessionClientError extends Error {
  override readonly name = 'SessionClientError';
  readonly code: ClientErrorCode | (string & {});
  /** The HTTP status of a refused upgrade, when known. */
  readonly status: number | undefined;
  /** The `error` event that answered the call, for server errors. */
  readonly event: OutboundOf<'error'> | undefined;

  constructor(
    code: ClientErrorCode | (string & {}),
    message: string,
    extra: { status?: number; event?: OutboundOf<'error'> } = {},
  ) {
    super(message);
    this.code = code;
    this.status = extra.status;
    this.event = extra.event;
  }

  static fromEvent(event: OutboundOf<'error'>): SessionClientError {
    return new SessionClientError(event.data.code, event.data.message, { event });
  }
}
