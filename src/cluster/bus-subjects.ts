import { AppError } from '../errors.ts';

/** A session id becomes one subject token: no dots, wildcards or whitespace. */
const TOKEN = /^[^\s.*>]{1,256}$/u;

function token(sessionId: string): string {
  if (!TOKEN.test(sessionId)) {
    throw new AppError('invalid_session_id', 'a session id cannot name a cluster subject', 400);
  }
  return sessionId;
}

/** Where a session's owner takes commands (request/reply). */
export const commandSubject = (sessionId: string) => `session.${token(sessionId)}.cmd`;

/** Where a session's owner publishes its stored events (and streamed text) after commit. */
export const eventSubject = (sessionId: string) => `session.${token(sessionId)}.evt`;
