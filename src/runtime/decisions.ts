import type { SessionCommandEvent } from '../../machines/session.events.ts';
import type { Clock } from './clock.ts';
import type { ToolRegistry } from '../agent/tool-registry.ts';
import { accepts, snapshotOf } from './session-events.ts';
import { AppError } from '../errors.ts';
import type { Command } from '../protocol/inbound.ts';
import type { Decision, Store } from '../store/store.ts';
import type { SessionHost } from './session-host.ts';

export type DecisionCommand = Extract<Command, { type: 'approve' | 'reject' | 'edit' }>;

const STATUS = { approve: 'approved', reject: 'rejected', edit: 'edited' } as const;

/**
 * A human decision: checked against the actor that waits for it, committed (a conditional
 * update, so exactly one of two racing decisions wins), and only then given to that actor.
 */
export function decide(
  deps: { session: SessionHost; store: Store; registry: ToolRegistry; clock: Clock },
  command: DecisionCommand,
  by: string,
): Promise<void> {
  const { session, store } = deps;
  return session.serial(async () => {
    await session.flush();
    const event = toEvent(command, by);
    const actor = session.actorForRequest(command.request_id);
    const pending = actor && snapshotOf(actor).context.pending;
    if (!actor || !pending || !accepts(actor, event)) {
      throw await refusal(store, session, command);
    }
    const problem =
      command.type === 'edit' ? deps.registry.argsProblem(pending.tool, command.edited_args) : null;
    if (problem !== null) {
      throw new AppError('invalid_tool_args', `edited args for ${pending.tool}: ${problem}`, 400, {
        request_id: command.request_id,
      });
    }
    const decision: Decision = {
      request_id: command.request_id,
      status: STATUS[command.type],
      decided_by: by,
      decided_at: new Date(deps.clock.now()).toISOString(),
      ...(command.type === 'reject' && command.reason !== undefined
        ? { decision_reason: command.reason }
        : {}),
      ...(command.type === 'edit' ? { edited_args: command.edited_args } : {}),
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

function toEvent(command: DecisionCommand, by: string): SessionCommandEvent {
  switch (command.type) {
    case 'approve':
      return { type: 'approve', request_id: command.request_id, by };
    case 'reject':
      return {
        type: 'reject',
        request_id: command.request_id,
        by,
        ...(command.reason !== undefined ? { reason: command.reason } : {}),
      };
    case 'edit':
      return { type: 'edit', request_id: command.request_id, edited_args: command.edited_args, by };
  }
}
