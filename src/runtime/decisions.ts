import type { SessionCommandEvent } from '../../machines/session.events.ts';
import type { Clock } from './clock.ts';
import type { ToolRegistry } from '../agent/tool-registry.ts';
import { accepts, snapshotOf } from './session-events.ts';
import { AppError, isAppError } from '../errors.ts';
import {
  countsVotes,
  decidersOf,
  decides,
  policyOf,
  voteRefusal,
  type Voter,
} from '../../machines/session.policy.ts';
import type { Command } from '../protocol/inbound.ts';
import type { Decision, Store } from '../store/store.ts';
import type { SessionHost } from './session-host.ts';

export type DecisionCommand = Extract<Command, { type: 'approve' | 'reject' | 'edit' }>;

const STATUS = { approve: 'approved', reject: 'rejected', edit: 'edited' } as const;

/**
 * A human decision: checked against the actor that waits for it and its approval policy. The
 * vote that decides is committed (a conditional update, so exactly one of two racing decisions
 * wins) and only then given to that actor; a vote that does not decide yet is given to the
 * actor and acknowledged once its `approval_vote` and the snapshot holding it are stored.
 */
export function decide(
  deps: { session: SessionHost; store: Store; registry: ToolRegistry; clock: Clock },
  command: DecisionCommand,
  voter: Voter,
): Promise<void> {
  const { session, store } = deps;
  const by = voter.user_id;
  return session.serial(async () => {
    await session.flush();
    const event = toEvent(command, voter);
    const actor = session.actorForRequest(command.request_id);
    const context = actor && snapshotOf(actor).context;
    const pending = context?.pending;
    if (!actor || !context || !pending) throw await refusal(store, session, command);
    const refused = voteRefusal(pending, context.executed_by, voter);
    if (refused) {
      const status = refused.code === 'already_voted' ? 409 : 403;
      throw new AppError(refused.code, refused.message, status, { request_id: command.request_id });
    }
    if (!accepts(actor, event)) throw await refusal(store, session, command);
    const problem =
      command.type === 'edit' ? deps.registry.argsProblem(pending.tool, command.edited_args) : null;
    if (problem !== null) {
      throw new AppError('invalid_tool_args', `edited args for ${pending.tool}: ${problem}`, 400, {
        request_id: command.request_id,
      });
    }
    if (!decides(pending, command.type)) {
      actor.send(event);
      await session.written();
      if (session.isBroken()) throw failedWrite(session.failure());
      return;
    }
    const deciders = countsVotes(policyOf(pending))
      ? decidersOf(pending, command.type, by).join(DECIDERS_SEPARATOR)
      : by;
    // An approval of args that an earlier vote's edit put up runs those: it is an edit.
    const edited =
      command.type === 'edit' ? command.edited_args : pending.original_args && pending.args;
    const decision: Decision = {
      request_id: command.request_id,
      session_id: session.id,
      status: edited ? 'edited' : STATUS[command.type],
      decided_by: deciders,
      decided_at: new Date(deps.clock.now()).toISOString(),
      ...(command.type === 'reject' && command.reason !== undefined
        ? { decision_reason: command.reason }
        : {}),
      ...(edited ? { edited_args: edited } : {}),
    };
    const result = await store.decideApproval(decision);
    if (!result.ok) {
      if (result.reason === 'not_found') {
        throw new AppError('approval_not_found', `no approval request ${command.request_id}`, 404);
      }
      throw alreadyDecided(command.request_id, result.approval.status, result.approval.decided_by);
    }
    actor.send(event);
  });
}

/**
 * How the decisions table lists the approvers of a request that took several votes (the log's
 * `decided_by` holds them as an array); restore.ts reads it back.
 */
export const DECIDERS_SEPARATOR = ', ';

/** What the sender of a command hears when its events could not be stored. */
export function failedWrite(cause: unknown): AppError {
  if (isAppError(cause)) return cause;
  return new AppError(
    'store_write_failed',
    'the session could not be stored; it was restored',
    503,
  );
}

/** Why no actor of the session waits for this request: unknown, decided, or not now. */
async function refusal(
  store: Store,
  session: SessionHost,
  command: DecisionCommand,
): Promise<AppError> {
  const approval = await store.getApproval(command.request_id);
  if (!approval || approval.session_id !== session.id) {
    return new AppError(
      'approval_not_found',
      `no approval request ${command.request_id} in this session`,
      404,
      {
        request_id: command.request_id,
      },
    );
  }
  if (approval.status !== 'pending') {
    return alreadyDecided(command.request_id, approval.status, approval.decided_by);
  }
  return notAllowed(command.type, session.state(), { request_id: command.request_id });
}

/** The answer to a message the session's current state does not take. */
export function notAllowed(
  type: string,
  state: string,
  details: Record<string, unknown>,
): AppError {
  return new AppError(
    'not_allowed_in_state',
    `${type} is not allowed while ${state}`,
    409,
    details,
  );
}

function alreadyDecided(requestId: string, status: string, by: string | null): AppError {
  return new AppError(
    'approval_already_decided',
    `approval request ${requestId} is already ${status}${by ? ` by ${by}` : ''}`,
    409,
    { request_id: requestId, status },
  );
}

function toEvent(command: DecisionCommand, voter: Voter): SessionCommandEvent {
  const from = { by: voter.user_id, roles: voter.roles };
  switch (command.type) {
    case 'approve':
      return { type: 'approve', request_id: command.request_id, ...from };
    case 'reject':
      return {
        type: 'reject',
        request_id: command.request_id,
        ...from,
        ...(command.reason !== undefined ? { reason: command.reason } : {}),
      };
    case 'edit':
      return {
        type: 'edit',
        request_id: command.request_id,
        edited_args: command.edited_args,
        ...from,
      };
  }
}
