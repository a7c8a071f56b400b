// What the session was after stored event N, folded from the log alone: nothing is re-run.

const DECIDED = new Set(['approved', 'rejected', 'edit_approved', 'approval_expired']);

/** A subagent's state, read from the events it emitted on its parent's log. */
const SUBAGENT_STATE = {
  subagent_start: 'thinking',
  thinking: 'thinking',
  message: 'thinking',
  approval_required: 'awaiting_approval',
  approved: 'executing.dispatch',
  edit_approved: 'executing.dispatch',
  rejected: 'thinking',
  approval_expired: 'thinking',
  tool_call: 'executing.tool',
  tool_result: 'thinking',
  complete: 'complete',
  error: 'failed',
  cancelled: 'cancelled',
};

/** The state path the chart marks: `executing` is refined to the substate it is in. */
function nextPath(previous, event) {
  if (event.state !== 'executing') return event.state;
  if (event.type === 'subagent_start') return 'executing.subagent';
  if (event.data?.subagent_id !== undefined) return previous;
  if (event.type === 'tool_call') return 'executing.tool';
  return previous.startsWith('executing') ? previous : 'executing.dispatch';
}

function emptyMachine(state) {
  return { path: state, taken: null, last_event: null };
}

function move(machine, path, event) {
  if (path !== machine.path) machine.taken = { from: machine.path, to: path, by: event.type };
  machine.path = path;
  machine.last_event = event.type;
}

/**
 * Folds stored events (seq order) up to and including seq `upTo` (all when undefined) into
 * the state path, the transition just taken, the pending approvals, a context digest and the
 * state of every subagent.
 */
export function replay(events, upTo, initialState = 'idle') {
  const session = emptyMachine(initialState);
  const pending = new Map();
  const subagents = new Map();
  const context = { execution_id: null, command: null, steps: 0 };
  let seq = 0;
  for (const event of events) {
    if (upTo !== undefined && event.seq > upTo) break;
    seq = event.seq;
    const data = event.data ?? {};
    move(session, nextPath(session.path, event), event);
    if (event.type === 'approval_required') pending.set(data.request_id, data);
    if (DECIDED.has(event.type)) pending.delete(data.request_id);
    if (event.type === 'cancelled' && data.subagent_id === undefined) pending.clear();
    const sub = data.subagent_id;
    if (sub !== undefined) {
      const machine = subagents.get(sub) ?? emptyMachine('idle');
      subagents.set(sub, machine);
      const state = event.type === 'subagent_end' ? data.status : SUBAGENT_STATE[event.type];
      if (state) move(machine, state, event);
    }
    if (sub !== undefined) continue;
    switch (event.type) {
      case 'thinking':
        Object.assign(context, { execution_id: data.execution_id, command: data.command });
        context.steps = 0;
        delete context.summary;
        delete context.error;
        break;
      case 'tool_call':
        context.last_call = { tool: data.tool, args: data.args };
        break;
      case 'tool_result':
        context.steps += 1;
        context.last_result = data.result;
        break;
      case 'approved':
      case 'rejected':
      case 'edit_approved':
        context.last_decision = {
          type: event.type,
          decided_by: data.decided_by,
          ...(data.reason === undefined ? {} : { reason: data.reason }),
        };
        break;
      case 'complete':
        context.summary = data.summary;
        break;
      case 'error':
        context.error = { code: data.code, message: data.message };
        break;
      default:
        break;
    }
  }
  return { seq, ...session, pending: [...pending.values()], context, subagents };
}
