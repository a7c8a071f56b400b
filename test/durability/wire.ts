import { http } from '../support/test-app.ts';
import type { TestSocket, WireEvent } from '../support/ws-client.ts';

/** A row of the audit log: the wire event as sent, plus its chain hashes. */
export type LoggedEvent = WireEvent & { prev_hash: string; hash: string };

/** Where a server answers: an in-process App or a child process. */
export interface Target {
  url: string;
}

/** Per-socket replies are not stored: `connected`, `pong`, and errors answering that client. */
export function isReply(event: WireEvent): boolean {
  return event.type === 'connected' || event.type === 'pong' || isClientError(event);
}

function isClientError(event: WireEvent): boolean {
  const code = (event.data as { code?: unknown } | undefined)?.code;
  return (
    event.type === 'error' &&
    (code === 'approval_already_decided' ||
      code === 'approval_not_found' ||
      code === 'not_allowed_in_state')
  );
}

/** The stored events a socket received, in arrival order. */
export function sessionEvents(socket: TestSocket): WireEvent[] {
  return socket.events.filter((e) => !isReply(e));
}

/** The audit log over REST, all pages. */
export async function auditLog(
  target: Target,
  sessionId: string,
  token?: string,
): Promise<LoggedEvent[]> {
  const out: LoggedEvent[] = [];
  for (;;) {
    const answer = await http<{ events: LoggedEvent[] }>(
      target,
      'GET',
      `/api/v1/sessions/${sessionId}/events?after_seq=${out.length}&limit=1000`,
      token === undefined ? {} : { token },
    );
    if (answer.status !== 200) {
      throw new Error(`events of ${sessionId}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    out.push(...answer.body.events);
    if (answer.body.events.length < 1000) return out;
  }
}

export interface SessionView {
  id: string;
  state: string;
  last_seq: number;
  pending_approvals: { request_id: string; call_id: string; expires_at: string; tool: string }[];
}

export async function getSessionView(target: Target, sessionId: string): Promise<SessionView> {
  const answer = await http<SessionView>(target, 'GET', `/api/v1/sessions/${sessionId}`);
  if (answer.status !== 200) {
    throw new Error(`session ${sessionId}: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return answer.body;
}

/** The wire event without its chain hashes, as a socket received it. */
export function withoutHashes(event: LoggedEvent): WireEvent {
  const { prev_hash: _p, hash: _h, ...rest } = event;
  return rest;
}

/** from+1 .. to: the seqs a replay after `from` must deliver when the log ends at `to`. */
export function seqRange(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + 1 + i);
}
