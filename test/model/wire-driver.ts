import { expect } from 'vitest';
import type { PlanStep } from '../../machines/session.events.ts';
import type { SessionState } from '../../machines/session.types.ts';
import type { App } from '../support/test-app.ts';
import type { ManualClock } from '../support/manual-clock.ts';
import { createSession, http, signToken } from '../support/test-app.ts';
import { connect, type TestSocket, type WireEvent } from '../support/ws-client.ts';
import type { Coverage } from './coverage.ts';
import type { ModelPath, ModelStep } from './model-paths.ts';
import { MODEL_USER } from './environment.ts';
import { PLANNER_FAILS, PLANNER_WAITS } from './planner-double.ts';
import { editedArgs, scenarioNamed } from './scenarios.ts';

/**
 * Runs one model path against the real server over a real WebSocket: performs the step's
 * action (a message, or moving the clock), then checks that the events on the wire are the
 * ones the machine emits for that transition, with the session's state as the model has it.
 */

export interface WireDeps {
  app: App;
  clock: ManualClock;
  approvalTtlMs: number;
  token: string;
}

interface Item {
  step: ModelStep;
  /** The session's (top-level) state after the step: what every event's `state` says. */
  sessionState: SessionState;
  plan?: PlanStep[];
}

const DECISIONS = new Set(['approve', 'reject', 'edit']);

/** A step the outside world causes; every other one follows by itself. */
function isAction(step: ModelStep): boolean {
  const type = step.event.type;
  return (
    (type === 'execute' && step.depth === 0) ||
    DECISIONS.has(type) ||
    type === 'approval.expired' ||
    type === 'cancel'
  );
}

/** The plan an execute sends so that the built-in planner makes the model's choices. */
function planFor(steps: readonly ModelStep[], executeAt: number): PlanStep[] {
  const plan: PlanStep[] = [];
  for (const step of steps.slice(executeAt + 1)) {
    const label = step.label;
    if (step.event.type === 'execute' || label === 'plan:final') break;
    if (label === 'plan:error') plan.push(PLANNER_FAILS);
    else if (label.startsWith('plan:')) plan.push(scenarioNamed(label.slice('plan:'.length)).step);
    else if (label === 'cancel' && step.from === 'thinking') plan.push(PLANNER_WAITS);
  }
  return plan;
}

/** The steps in wire order: a subagent's steps come before the step that ends it. */
function flatten(steps: readonly ModelStep[], inside?: SessionState): Item[] {
  return steps.flatMap((step, i) => {
    const sessionState = inside ?? step.top;
    const subagent = step.subagent ? flatten(step.subagent, inside ?? 'executing') : [];
    const plan = step.depth === 0 && step.event.type === 'execute' ? planFor(steps, i) : undefined;
    return [...subagent, { step, sessionState, ...(plan ? { plan } : {}) }];
  });
}

export async function runPathOverWire(deps: WireDeps, path: ModelPath, coverage: Coverage) {
  const { app, token } = deps;
  const sessionId = await createSession(app, token);
  const socket = await connect(app, { session_id: sessionId, token });
  try {
    await socket.waitFor('connected');
    await drive(deps, path, sessionId, socket, coverage);
  } finally {
    await socket.close();
  }
}

async function drive(
  deps: WireDeps,
  path: ModelPath,
  sessionId: string,
  socket: TestSocket,
  coverage: Coverage,
) {
  const items = flatten(path.steps);
  /** The model's top-level state of the session (0) and of each subagent level below it. */
  const states: SessionState[] = ['idle'];
  /** The subagent id of each level, learned from `subagent_start`. */
  const subagentIds: (string | undefined)[] = [];
  const approvals: ({ request_id: string; args: Record<string, unknown> } | undefined)[] = [];
  let cursor = socket.events.findIndex((e) => e.type === 'connected') + 1;
  const where = (item: Item | undefined) =>
    `path "${path.name}", step ${item ? `${item.step.label} (depth ${item.step.depth})` : 'end'}; wire so far: ${socket.events
      .slice(1)
      .map((e) => e.type)
      .join(',')}`;

  /** At rest (waiting for the outside world), the REST view must agree with the model. */
  async function checkAtRest(item: Item | undefined) {
    const answer = await http<{ state: string; pending_approvals: { subagent_id?: string }[] }>(
      deps.app,
      'GET',
      `/api/v1/sessions/${sessionId}`,
      { token: deps.token },
    );
    const waiting = states.flatMap((state, depth) =>
      state === 'awaiting_approval' ? [depth === 0 ? null : (subagentIds[depth] ?? '?')] : [],
    );
    expect(
      {
        state: answer.body.state,
        pending: answer.body.pending_approvals.map((p) => p.subagent_id ?? null),
      },
      where(item),
    ).toEqual({ state: states[0], pending: waiting });
  }

  /**
   * A vote by a user other than the requester (the model's approvers and finance leads) goes
   * over REST with that user's token and roles; the session's socket sees what it causes.
   */
  async function voteOverRest(item: Item, body: Record<string, unknown>): Promise<void> {
    const event = item.step.event as { type: string; by: string; roles?: string[] };
    const pending = approvals[item.step.depth];
    if (!pending) throw new Error(`no approval to decide at ${where(item)}`);
    const token = await signToken(event.by, { roles: event.roles ?? [] });
    const path = `/api/v1/approvals/${pending.request_id}/${event.type}`;
    const answer = await http(deps.app, 'POST', path, { token, body });
    expect(answer.status, `${where(item)}: ${JSON.stringify(answer.body)}`).toBe(200);
  }

  async function act(item: Item): Promise<void> {
    const { step } = item;
    const type = step.event.type;
    if (type === 'execute') {
      const plan = item.plan ?? [];
      // No plan: the built-in command planner answers a command it does not know at once.
      socket.send({ type: 'execute', command: 'model path', ...(plan.length ? { plan } : {}) });
    } else if (type === 'approval.expired') {
      deps.clock.advance(deps.approvalTtlMs);
    } else if (type === 'cancel') {
      socket.send({ type: 'cancel' });
    } else {
      const pending = approvals[step.depth];
      if (!pending) throw new Error(`no approval to decide at ${where(item)}`);
      const { request_id } = pending;
      if ('by' in step.event && step.event.by !== MODEL_USER) {
        const body =
          type === 'reject'
            ? { reason: 'the model says no' }
            : type === 'edit'
              ? { edited_args: editedArgs(pending.args) }
              : {};
        return voteOverRest(item, body);
      }
      if (type === 'approve') socket.send({ type, request_id });
      if (type === 'reject') socket.send({ type, request_id, reason: 'the model says no' });
      if (type === 'edit') socket.send({ type, request_id, edited_args: editedArgs(pending.args) });
    }
  }

  async function expectEvent(item: Item, type: string): Promise<WireEvent> {
    const event = await socket.waitFor(() => true, { from: cursor });
    cursor += 1;
    const { depth } = item.step;
    const bracket = type === 'subagent_start' || type === 'subagent_end';
    // The session's own events carry no subagent_id; a subagent's carry its id; the
    // start and end of a subagent carry the id of the one it starts or ends.
    const subagentId = bracket
      ? subagentIds[depth + 1]
      : depth === 0
        ? undefined
        : subagentIds[depth];
    expect(
      {
        type: event.type,
        state: event.state,
        subagent_id:
          type === 'subagent_start' ? 'new' : (event.data as { subagent_id?: string }).subagent_id,
      },
      where(item),
    ).toEqual({
      type,
      state: item.sessionState,
      subagent_id: type === 'subagent_start' ? 'new' : subagentId,
    });
    return event;
  }

  // The first item is an execute: its check at rest sees the new session idle.
  for (const item of items) {
    const { step } = item;
    if (isAction(step)) {
      await checkAtRest(item);
      await act(item);
    }
    for (const type of step.emitted) {
      const event = await expectEvent(item, type);
      const data = event.data as {
        subagent_id?: string;
        request_id?: string;
        args?: Record<string, unknown>;
      };
      if (type === 'subagent_start') subagentIds[step.depth + 1] = data.subagent_id;
      if (type === 'approval_required') {
        approvals[step.depth] = { request_id: data.request_id ?? '', args: data.args ?? {} };
      }
    }
    states[step.depth] = step.top;
    if (step.from === 'executing.subagent' && step.to !== 'executing.subagent') {
      states.length = step.depth + 1;
    }
    coverage.record(step);
  }
  coverage.visit('idle');
  await checkAtRest(undefined);

  // The audit log holds exactly these events: nothing more happened than the model says.
  const log = await http<{ events: WireEvent[] }>(
    deps.app,
    'GET',
    `/api/v1/sessions/${sessionId}/events?after_seq=0&limit=1000`,
    { token: deps.token },
  );
  expect(
    log.body.events.map((e) => e.type),
    where(undefined),
  ).toEqual(items.flatMap((item) => item.step.emitted));
  expectOnlySessionEnds(log.body.events, where(undefined));
}

/**
 * A client that waits for `complete` (or the `error` that fails the session) must see the
 * session's own: a subagent's end is `subagent_end`, never one of those.
 */
export function expectOnlySessionEnds(events: readonly WireEvent[], where: string): void {
  const ends = events.filter(
    (e) => e.type === 'complete' || (e.type === 'error' && e.state === 'failed'),
  );
  for (const end of ends) {
    expect(
      {
        type: end.type,
        state: end.state,
        subagent_id: (end.data as { subagent_id?: string }).subagent_id,
      },
      where,
    ).toEqual({
      type: end.type,
      state: end.type === 'complete' ? 'complete' : 'failed',
      subagent_id: undefined,
    });
  }
  const subagentErrors = events.filter(
    (e) => e.type === 'error' && (e.data as { subagent_id?: string }).subagent_id !== undefined,
  );
  // What a subagent may still report as an error: a call whose outcome is unknown, not its end.
  expect(
    subagentErrors.map((e) => (e.data as { code: string }).code),
    where,
  ).toEqual(subagentErrors.map(() => 'tool_outcome_unknown'));
}
