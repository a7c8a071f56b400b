import { setup } from 'xstate';
import { sessionActions } from './session.actions.ts';
import {
  approvalTimerInput,
  initialContext,
  plannerInput,
  sessionActors,
  toolInput,
} from './session.actors.ts';
import type { SessionEmitted } from './session.emitted.ts';
import type { SessionEvent } from './session.events.ts';
import { sessionGuards } from './session.guards.ts';
import { messageActions } from './session.messages.ts';
import type { SessionContext, SessionInput } from './session.types.ts';

export * from './session.types.ts';
export { delegateArgsSchema } from './session.actors.ts';

/**
 * The session statechart: states, events, targets, guards and the names of actions. What each
 * name does is in session.actions.ts, session.guards.ts and session.actors.ts;
 * docs/statechart.md draws this.
 */
export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    input: {} as SessionInput,
    events: {} as SessionEvent,
    emitted: {} as SessionEmitted,
  },
  actors: sessionActors,
  actions: { ...sessionActions, ...messageActions },
  guards: sessionGuards,
}).createMachine({
  id: 'session',
  initial: 'idle',
  context: initialContext,
  states: {
    idle: {
      on: { execute: { target: 'thinking', actions: ['startExecution', 'emitThinking'] } },
    },
    thinking: {
      invoke: {
        src: 'planner',
        input: plannerInput,
        onDone: [
          { guard: 'isFinal', target: 'complete', actions: ['recordMessages', 'recordSummary'] },
          {
            guard: 'needsApproval',
            target: 'awaiting_approval',
            actions: ['recordMessages', 'holdCall', 'holdApproval', 'emitApprovalRequired'],
          },
          { target: 'executing', actions: ['recordMessages', 'holdCall'] },
        ],
        onError: {
          target: 'failed',
          actions: [{ type: 'recordError', params: { code: 'planner_failed' } }, 'emitError'],
        },
      },
      on: {
        cancel: {
          guard: 'isCurrentExecution',
          target: 'cancelled',
          actions: { type: 'emitCancelled', params: { from: 'thinking' } },
        },
      },
    },
    awaiting_approval: {
      invoke: { src: 'approvalTimer', input: approvalTimerInput },
      on: {
        // A vote the policy refuses takes no branch: the runtime answers it with a code.
        approve: [
          {
            guard: 'reachesQuorum',
            target: 'executing',
            actions: ['emitVote', 'emitApproved', 'clearPending'],
          },
          {
            guard: 'reachesQuorumOnEdit',
            target: 'executing',
            actions: ['emitVote', 'emitEditApproved', 'applyEdit', 'clearPending'],
          },
          { guard: 'countsVote', actions: ['emitVote', 'recordVote'] },
        ],
        edit: [
          {
            guard: 'editReachesQuorum',
            target: 'executing',
            actions: ['emitVote', 'emitEditApproved', 'applyEdit', 'clearPending'],
          },
          // The edited args go to the vote; the approvals of the old ones are void.
          { guard: 'countsVote', actions: ['emitVote', 'recordVote'] },
        ],
        reject: [
          {
            guard: 'rejectionsReached',
            target: 'thinking',
            actions: ['emitVote', 'emitRejected', 'recordRejection'],
          },
          { guard: 'countsVote', actions: ['emitVote', 'recordVote'] },
        ],
        'approval.expired': [
          {
            // Re-entered, so the timer is armed again with the new deadline.
            guard: 'escalates',
            target: 'awaiting_approval',
            reenter: true,
            actions: ['escalate', 'emitApprovalEscalated'],
          },
          {
            guard: 'matchesPending',
            target: 'thinking',
            actions: ['emitApprovalExpired', 'recordRejection'],
          },
        ],
        cancel: {
          guard: 'isCurrentExecution',
          target: 'cancelled',
          actions: [
            { type: 'emitCancelled', params: { from: 'awaiting_approval' } },
            'clearPending',
          ],
        },
      },
    },
    executing: {
      initial: 'dispatch',
      entry: 'emitToolCall',
      states: {
        dispatch: {
          always: [{ guard: 'isDelegate', target: 'subagent' }, { target: 'tool' }],
        },
        tool: {
          invoke: {
            src: 'tool',
            input: toolInput,
            onDone: { target: '#session.thinking', actions: ['emitToolResult', 'recordResult'] },
            onError: [
              {
                guard: 'isOutcomeUnknown',
                target: '#session.awaiting_approval',
                actions: ['emitOutcomeUnknown', 'holdOutcomeUnknown', 'emitApprovalRequired'],
              },
              {
                target: '#session.failed',
                actions: [{ type: 'recordError', params: { code: 'tool_failed' } }, 'emitError'],
              },
            ],
          },
          on: {
            cancel: {
              guard: 'isCurrentExecution',
              target: '#session.cancelled',
              actions: { type: 'emitCancelled', params: { from: 'tool' } },
            },
          },
        },
        subagent: {
          entry: ['spawnSubagent', 'emitSubagentStart', 'sendTask'],
          exit: 'stopSubagent',
          on: {
            'subagent.done': {
              target: '#session.thinking',
              actions: ['emitSubagentEnd', 'emitToolResult', 'recordResult'],
            },
            'subagent.failed': {
              target: '#session.failed',
              actions: [
                'emitSubagentEnd',
                { type: 'recordError', params: { code: 'subagent_failed' } },
                'emitError',
              ],
            },
            'xstate.error.actor.subagent': {
              target: '#session.failed',
              actions: [
                'emitSubagentEnd',
                { type: 'recordError', params: { code: 'subagent_failed' } },
                'emitError',
              ],
            },
            cancel: {
              guard: 'isCurrentExecution',
              target: '#session.cancelled',
              actions: ['emitSubagentEnd', { type: 'emitCancelled', params: { from: 'subagent' } }],
            },
          },
        },
      },
    },
    complete: {
      entry: ['emitComplete', 'notifyParentDone'],
      on: { execute: { target: 'thinking', actions: ['startExecution', 'emitThinking'] } },
    },
    cancelled: {
      on: { execute: { target: 'thinking', actions: ['startExecution', 'emitThinking'] } },
    },
    failed: {
      entry: 'notifyParentFailed',
      on: { execute: { target: 'thinking', actions: ['startExecution', 'emitThinking'] } },
    },
  },
});
