import type { z } from 'zod';
import type { SessionState } from '../../machines/session.types.ts';
import type { inboundSchemas, InboundMessage } from '../protocol/inbound.ts';
import type { OutboundEvent, OutboundOf } from '../protocol/outbound.ts';
import type { RetryPolicy } from './calls.ts';

/** A plan as a caller writes it: `args` may be left out (the server fills `{}`). */
export type PlanInput = NonNullable<z.input<typeof inboundSchemas.execute>['plan']>;

/** One helper per inbound message; each resolves with the event that completes it. */
export interface SessionCommands {
  /** Resolves with the `thinking` event that started the execution. */
  execute(command: string, plan?: PlanInput): Promise<OutboundOf<'thinking'>>;
  approve(requestId: string): Promise<OutboundOf<'approved'>>;
  reject(requestId: string, reason?: string): Promise<OutboundOf<'rejected'>>;
  edit(
    requestId: string,
    editedArgs: Record<string, unknown>,
  ): Promise<OutboundOf<'edit_approved'>>;
  /**
   * A vote under an approval policy that counts votes: resolves with our own `approval_vote`
   * (`votes_so_far` of `needed`) when the request still waits for more, or with the decision
   * it made. `approve`, `reject` and `edit` resolve only once the request is decided.
   */
  vote(
    decision: VoteDecision,
  ): Promise<
    | OutboundOf<'approval_vote'>
    | OutboundOf<'approved'>
    | OutboundOf<'edit_approved'>
    | OutboundOf<'rejected'>
  >;
  /** Resolves with the `cancelled` event. Default: the current execution. */
  cancel(executionId?: string): Promise<OutboundOf<'cancelled'>>;
  ping(): Promise<OutboundOf<'pong'>>;
}

/** A decision as `vote` sends it (the wire message, less its client `id`). */
export type VoteDecision = Omit<
  Extract<InboundMessage, { type: 'approve' | 'reject' | 'edit' }>,
  'id'
>;

const DECISIONS: ReadonlySet<string> = new Set(['approved', 'edit_approved', 'rejected']);

/** Sends a message and resolves with the first event for which `settles` is true. */
export type CallSender = (
  message: InboundMessage,
  retry: RetryPolicy,
  settles: (event: OutboundEvent, before: SessionState | null) => boolean,
) => Promise<OutboundEvent>;

/** States in which a `thinking` event can only be the start of a new execution. */
const RESTING: ReadonlySet<SessionState | null> = new Set([
  null,
  'idle',
  'complete',
  'cancelled',
  'failed',
]);

/**
 * The helpers, and how each finds its outcome. The server echoes the client `id` only in
 * replies (`pong`, `error`), so the success of a command is the event it causes: a decision
 * is answered by the event naming its `request_id`; an `execute` by the first top-level
 * `thinking` with its command that follows a resting state (several clients executing the
 * same command at once cannot be told apart: the loser gets `not_allowed_in_state` too).
 */
export function createCommands(
  send: CallSender,
  newId: () => string,
  /** Who we are (from `connected`): our own `approval_vote` answers our vote. */
  me: () => string | null = () => null,
): SessionCommands {
  const call = <E extends OutboundEvent>(...args: Parameters<CallSender>) =>
    send(...args) as Promise<E>;
  return {
    execute(command, plan) {
      const message = { type: 'execute' as const, id: newId(), command };
      // The wire type has `args` filled in; the client checks what it sends against the schema.
      const full = (plan === undefined ? message : { ...message, plan }) as InboundMessage;
      return call(full, 'settle', (event, before) => {
        return (
          event.type === 'thinking' &&
          event.data.subagent_id === undefined &&
          event.data.command === command &&
          RESTING.has(before)
        );
      });
    },
    approve(requestId) {
      return call(
        { type: 'approve', id: newId(), request_id: requestId },
        'resend',
        (e) => e.type === 'approved' && e.data.request_id === requestId,
      );
    },
    reject(requestId, reason) {
      const message = { type: 'reject' as const, id: newId(), request_id: requestId };
      return call(
        reason === undefined ? message : { ...message, reason },
        'resend',
        (e) => e.type === 'rejected' && e.data.request_id === requestId,
      );
    },
    edit(requestId, editedArgs) {
      return call(
        { type: 'edit', id: newId(), request_id: requestId, edited_args: editedArgs },
        'resend',
        (e) => e.type === 'edit_approved' && e.data.request_id === requestId,
      );
    },
    vote(decision) {
      const requestId = decision.request_id;
      return call({ ...decision, id: newId() } as InboundMessage, 'resend', (e) => {
        if (!('request_id' in e.data) || e.data.request_id !== requestId) return false;
        return DECISIONS.has(e.type) || (e.type === 'approval_vote' && e.data.decided_by === me());
      });
    },
    cancel(executionId) {
      const id = newId();
      const message =
        executionId === undefined
          ? { type: 'cancel' as const, id }
          : { type: 'cancel' as const, id, execution_id: executionId };
      // Naming the execution makes a repeat harmless; "the current one" might be a newer one.
      return call(
        message,
        executionId === undefined ? 'settle' : 'resend',
        (e) =>
          e.type === 'cancelled' &&
          e.data.subagent_id === undefined &&
          (executionId === undefined || e.data.execution_id === executionId),
      );
    },
    ping() {
      const id = newId();
      return call({ type: 'ping', id }, 'resend', (e) => e.type === 'pong' && e.data.id === id);
    },
  };
}
