import type { Connection, SocketLimits } from './connection.ts';

const PACE_POLL_MS = 10;

/** Ends a replay whose socket went away: nothing to report. */
export class SocketClosed extends Error {}

/**
 * Between replayed events: go on while the send buffer is under half the limit, else wait
 * for the client to read, dropping it when it reads nothing for `replayStallMs`.
 */
export function replayPace(
  conn: Connection,
  limits: Pick<SocketLimits, 'maxBackpressure' | 'replayStallMs'>,
): () => Promise<void> | undefined {
  const roomy = () => conn.bufferedAmount() < limits.maxBackpressure / 2;
  return () => {
    if (conn.state.closed) return Promise.reject(new SocketClosed());
    if (roomy()) return undefined;
    return new Promise<void>((resolve, reject) => {
      let before = conn.bufferedAmount();
      let stalled = 0;
      const timer = setInterval(() => {
        const now = conn.bufferedAmount();
        stalled = now < before ? 0 : stalled + PACE_POLL_MS;
        before = now;
        if (conn.state.closed) {
          clearInterval(timer);
          reject(new SocketClosed());
        } else if (roomy()) {
          clearInterval(timer);
          resolve();
        } else if (stalled >= limits.replayStallMs) {
          clearInterval(timer);
          conn.state.log.info('replay: the client read nothing; dropped');
          conn.drop();
          reject(new SocketClosed());
        }
      }, PACE_POLL_MS);
    });
  };
}
