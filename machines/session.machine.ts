import {
  assign,
  emit,
  fromCallback,
  fromPromise,
  enqueueActions,
  sendTo,
  setup,
  spawnChild,
  stopChild,
  type AnyActorRef,
} from 'xstate';
import { z } from 'zod';
import { planStepSchema, type SessionEvent } from './session.events.ts';
import type { Aborted, SessionEmitted } from './session.emitted.ts';
import {
  errorMessage,
  isToolOutcomeUnknown,
  type ApprovalTimerInput,
  type PlannerInput,
  type PlannerOutput,
  type SessionContext,
  type SessionInput,
  type ToolInput,
} from './session.types.ts';

export * from './session.types.ts';

const MAX_TIMER_MS = 2_147_483_647;

export const delegateArgsSchema = z.object({
  task: z.string().min(1),
  plan: z.array(planStepSchema).min(1).max(100),
});

/** What a cancel stops, read from the live snapshot of this actor and its subagent. */
function abortedWork(context: SessionContext, self: AnyActorRef, where: string): Aborted[] {
  const call = context.current_call;
  if (where === 'thinking') return [{ kind: 'planner', id: context.execution_id ?? '' }];
  if (where === 'awaiting_approval' && context.pending) {
    return [{ kind: 'approval', id: context.pending.request_id, tool: context.pending.tool }];
  }
  if (where === 'tool' && call) return [{ kind: 'tool', id: call.call_id, tool: call.tool }];
  if (where === 'subagent' && call) {
    // `children?.` and `context ?`: a pure transition (xstate/graph) has a `self` with no
    // children, and a child that is not a machine (the depth limit) has no context.
    const child = (self.getSnapshot() as { children?: Record<string, AnyActorRef | undefined> })
      .children?.['subagent'];
    const childSnapshot = child?.getSnapshot() as
      { value: unknown; context?: SessionContext } | undefined;
    const inner = childSnapshot?.context
      ? abortedWork(childSnapshot.context, child!, innerWhere(childSnapshot.value))
      : [];
    return [{ kind: 'subagent', id: `sub_${call.call_id}`, tool: call.tool }, ...inner];
  }
  return [];
}

function innerWhere(value: unknown): string {
  if (typeof value === 'string') return value;
  const executing = (value as { executing?: string }).executing;
  return executing ?? '';
}

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    input: {} as SessionInput,
    events: {} as SessionEvent,
    emitted: {} as SessionEmitted,
  },
  actors: {
    // Inert defaults: the runtime provides the real planner, tool runner and subagent.
    planner: fromPromise<PlannerOutput, PlannerInput>(() =>
      Promise.reject(new Error('no planner provided')),
    ),
    tool: fromPromise<unknown, ToolInput>(() =>
      Promise.reject(new Error('no tool runner provided')),
    ),
    subagent: fromPromise<unknown, SessionInput>(() =>
      Promise.reject(new Error('no subagent logic provided')),
    ),
    approvalTimer: fromCallback<
      { type: 'approval.expired'; request_id: string },
      ApprovalTimerInput
    >(({ input, sendBack }) => {
      const ms = Math.min(MAX_TIMER_MS, Math.max(0, Date.parse(input.expires_at) - Date.now()));
      const timer = setTimeout(
        () => sendBack({ type: 'approval.expired', request_id: input.request_id }),
        ms,
      );
      return () => clearTimeout(timer);
    }),
  },
  actions: {
    startExecution: assign(({ context, event }) =>
      event.type === 'execute'
        ? {
            execution_id: event.execution_id,
            executed_by: event.by,
            command: event.command,
            plan: event.plan ?? null,
            history: [],
            current_call: null,
            pending: null,
            summary: null,
            error: null,
            executions: context.executions + 1,
          }
        : {},
    ),
    emitThinking: emit(({ context }) => ({
      type: 'thinking' as const,
      execution_id: context.execution_id,
      data: {
        execution_id: context.execution_id ?? '',
        command: context.command ?? '',
        plan_steps: context.plan?.length ?? null,
      },
    })),
    emitApprovalRequired: emit(({ context }) => {
      const pending = context.pending;
      return {
        type: 'approval_required' as const,
        execution_id: context.execution_id,
        data: {
          request_id: pending?.request_id ?? '',
          call_id: pending?.call_id ?? '',
          tool: pending?.tool ?? '',
          args: pending?.args ?? {},
          reason: pending?.reason ?? '',
          expires_at: pending?.expires_at ?? '',
        },
      };
    }),
    recordRejection: assign(({ context, event }) => {
      const pending = context.pending;
      if (!pending) return {};
      const reason = event.type === 'reject' ? (event.reason ?? 'rejected') : 'expired';
      const by = event.type === 'reject' ? event.by : 'system';
      return {
        history: [
          ...context.history,
          {
            kind: 'rejected' as const,
            call_id: pending.call_id,
            tool: pending.tool,
            args: pending.args,
            reason,
            by,
          },
        ],
        pending: null,
        current_call: null,
      };
    }),
    emitError: emit(({ context }) => ({
      type: 'error' as const,
      execution_id: context.execution_id,
      data: {
        code: context.error?.code ?? 'failed',
        message: context.error?.message ?? 'failed',
        ...(context.current_call ? { call_id: context.current_call.call_id } : {}),
      },
    })),
    emitSubagentEnd: emit(({ context, event }) => ({
      type: 'subagent_end' as const,
      execution_id: context.execution_id,
      data: {
        subagent_id: `sub_${context.current_call?.call_id ?? ''}`,
        call_id: context.current_call?.call_id ?? '',
        status: event.type === 'subagent.done' ? ('complete' as const) : ('failed' as const),
        summary: event.type === 'subagent.done' ? event.summary : '',
      },
    })),
    notifyParentDone: enqueueActions(({ context, enqueue }) => {
      if (context.parent_call_id === null) return;
      enqueue.sendParent({
        type: 'subagent.done',
        call_id: context.parent_call_id ?? '',
        summary: context.summary ?? '',
        results: context.history,
      });
    }),
    notifyParentFailed: enqueueActions(({ context, enqueue }) => {
      if (context.parent_call_id === null) return;
      enqueue.sendParent({
        type: 'subagent.failed',
        call_id: context.parent_call_id ?? '',
        message: context.error?.message ?? 'failed',
      });
    }),
  },
  guards: {
    isFinal: ({ event }) => (event as { output?: PlannerOutput }).output?.kind === 'final',
    needsApproval: ({ event }) => {
      const output = (event as { output?: PlannerOutput }).output;
      return output?.kind === 'call' && output.approval !== null;
    },
    isDelegate: ({ context }) =>
      context.current_call?.tool === 'delegate' &&
      delegateArgsSchema.safeParse(context.current_call.args).success,
    matchesPending: ({ context, event }) =>
      'request_id' in event && event.request_id === context.pending?.request_id,
    isCurrentExecution: ({ context, event }) =>
      event.type === 'cancel' &&
      (event.execution_id === undefined || event.execution_id === context.execution_id),
    isOutcomeUnknown: ({ event }) => isToolOutcomeUnknown((event as { error?: unknown }).error),
    isSubagent: ({ context }) => context.parent_call_id !== null,
  },
}).createMachine({
  id: 'session',
  initial: 'idle',
  context: ({ input }) => ({
    session_id: input.session_id,
    depth: input.depth ?? 0,
    parent_call_id: input.parent_call_id ?? null,
    execution_id: null,
    executed_by: null,
    command: null,
    plan: null,
    history: [],
    current_call: null,
    pending: null,
    summary: null,
    error: null,
    executions: 0,
  }),
  states: {
    idle: {
      on: { execute: { target: 'thinking', actions: ['startExecution', 'emitThinking'] } },
    },
    thinking: {
      invoke: {
        src: 'planner',
        input: ({ context }) => ({
          session_id: context.session_id,
          execution_id: context.execution_id ?? '',
          command: context.command ?? '',
          plan: context.plan,
          history: context.history,
          depth: context.depth,
        }),
        onDone: [
          {
            guard: 'isFinal',
            target: 'complete',
            actions: assign({
              summary: ({ event }) => (event.output.kind === 'final' ? event.output.summary : ''),
            }),
          },
          {
            guard: 'needsApproval',
            target: 'awaiting_approval',
            actions: [
              assign({
                current_call: ({ event }) =>
                  event.output.kind === 'call' ? event.output.call : null,
                pending: ({ event }) =>
                  event.output.kind === 'call' ? event.output.approval : null,
              }),
              'emitApprovalRequired',
            ],
          },
          {
            target: 'executing',
            actions: assign({
              current_call: ({ event }) =>
                event.output.kind === 'call' ? event.output.call : null,
            }),
          },
        ],
        onError: {
          target: 'failed',
          actions: [
            assign({
              error: ({ event }) => ({
                code: 'planner_failed',
                message: errorMessage(event.error),
              }),
            }),
            'emitError',
          ],
        },
      },
      on: {
        cancel: {
          guard: 'isCurrentExecution',
          target: 'cancelled',
          actions: emit(({ context, event, self }) => ({
            type: 'cancelled' as const,
            execution_id: context.execution_id,
            data: {
              execution_id: context.execution_id ?? '',
              cancelled_by: event.type === 'cancel' ? event.by : '',
              aborted: abortedWork(context, self, 'thinking'),
            },
          })),
        },
      },
    },
    awaiting_approval: {
      invoke: {
        src: 'approvalTimer',
        input: ({ context }) => ({
          session_id: context.session_id,
          request_id: context.pending?.request_id ?? '',
          expires_at: context.pending?.expires_at ?? new Date(0).toISOString(),
        }),
      },
      on: {
        approve: {
          guard: 'matchesPending',
          target: 'executing',
          actions: [
            emit(({ context, event }) => ({
              type: 'approved' as const,
              execution_id: context.execution_id,
              data: {
                request_id: context.pending?.request_id ?? '',
                call_id: context.pending?.call_id ?? '',
                decided_by: event.type === 'approve' ? event.by : '',
              },
            })),
            assign({ pending: null }),
          ],
        },
        edit: {
          guard: 'matchesPending',
          target: 'executing',
          actions: [
            emit(({ context, event }) => ({
              type: 'edit_approved' as const,
              execution_id: context.execution_id,
              data: {
                request_id: context.pending?.request_id ?? '',
                call_id: context.pending?.call_id ?? '',
                decided_by: event.type === 'edit' ? event.by : '',
                original_args: context.pending?.args ?? {},
                edited_args: event.type === 'edit' ? event.edited_args : {},
              },
            })),
            assign({
              current_call: ({ context, event }) =>
                context.current_call && event.type === 'edit'
                  ? { ...context.current_call, args: event.edited_args }
                  : context.current_call,
              pending: null,
            }),
          ],
        },
        reject: {
          guard: 'matchesPending',
          target: 'thinking',
          actions: [
            emit(({ context, event }) => ({
              type: 'rejected' as const,
              execution_id: context.execution_id,
              data: {
                request_id: context.pending?.request_id ?? '',
                call_id: context.pending?.call_id ?? '',
                decided_by: event.type === 'reject' ? event.by : '',
                reason: (event.type === 'reject' ? event.reason : undefined) ?? 'rejected',
              },
            })),
            'recordRejection',
          ],
        },
        'approval.expired': {
          guard: 'matchesPending',
          target: 'thinking',
          actions: [
            emit(({ context }) => ({
              type: 'approval_expired' as const,
              execution_id: context.execution_id,
              data: {
                request_id: context.pending?.request_id ?? '',
                call_id: context.pending?.call_id ?? '',
                expires_at: context.pending?.expires_at ?? '',
              },
            })),
            'recordRejection',
          ],
        },
        cancel: {
          guard: 'isCurrentExecution',
          target: 'cancelled',
          actions: [
            emit(({ context, event, self }) => ({
              type: 'cancelled' as const,
              execution_id: context.execution_id,
              data: {
                execution_id: context.execution_id ?? '',
                cancelled_by: event.type === 'cancel' ? event.by : '',
                aborted: abortedWork(context, self, 'awaiting_approval'),
              },
            })),
            assign({ pending: null }),
          ],
        },
      },
    },
    executing: {
      initial: 'dispatch',
      entry: emit(({ context }) => ({
        type: 'tool_call' as const,
        execution_id: context.execution_id,
        data: {
          call_id: context.current_call?.call_id ?? '',
          tool: context.current_call?.tool ?? '',
          args: context.current_call?.args ?? {},
        },
      })),
      states: {
        dispatch: {
          always: [{ guard: 'isDelegate', target: 'subagent' }, { target: 'tool' }],
        },
        tool: {
          invoke: {
            src: 'tool',
            input: ({ context }) => ({
              session_id: context.session_id,
              execution_id: context.execution_id ?? '',
              call: context.current_call ?? { call_id: '', tool: '', args: {} },
              depth: context.depth,
            }),
            onDone: {
              target: '#session.thinking',
              actions: [
                emit(({ context, event }) => ({
                  type: 'tool_result' as const,
                  execution_id: context.execution_id,
                  data: {
                    call_id: context.current_call?.call_id ?? '',
                    tool: context.current_call?.tool ?? '',
                    result: event.output,
                  },
                })),
                assign({
                  history: ({ context, event }) =>
                    context.current_call
                      ? [
                          ...context.history,
                          {
                            kind: 'result' as const,
                            ...context.current_call,
                            result: event.output,
                          },
                        ]
                      : context.history,
                  current_call: null,
                }),
              ],
            },
            onError: [
              {
                guard: 'isOutcomeUnknown',
                target: '#session.awaiting_approval',
                actions: [
                  emit(({ context, event }) => ({
                    type: 'error' as const,
                    execution_id: context.execution_id,
                    data: {
                      code: 'tool_outcome_unknown',
                      message: errorMessage(event.error),
                      call_id: context.current_call?.call_id ?? '',
                    },
                  })),
                  // A human decides on a fresh call id: approving it runs the call again.
                  assign(({ event }) => {
                    if (!isToolOutcomeUnknown(event.error)) return {};
                    const {
                      request_id: _r,
                      reason: _why,
                      expires_at: _at,
                      ...call
                    } = event.error.approval;
                    return { pending: event.error.approval, current_call: call };
                  }),
                  'emitApprovalRequired',
                ],
              },
              {
                target: '#session.failed',
                actions: [
                  assign({
                    error: ({ event }) => ({
                      code: 'tool_failed',
                      message: errorMessage(event.error),
                    }),
                  }),
                  'emitError',
                ],
              },
            ],
          },
          on: {
            cancel: {
              guard: 'isCurrentExecution',
              target: '#session.cancelled',
              actions: emit(({ context, event, self }) => ({
                type: 'cancelled' as const,
                execution_id: context.execution_id,
                data: {
                  execution_id: context.execution_id ?? '',
                  cancelled_by: event.type === 'cancel' ? event.by : '',
                  aborted: abortedWork(context, self, 'tool'),
                },
              })),
            },
          },
        },
        subagent: {
          entry: [
            spawnChild('subagent', {
              id: 'subagent',
              input: ({ context }) => ({
                session_id: context.session_id,
                depth: context.depth + 1,
                parent_call_id: context.current_call?.call_id ?? '',
              }),
            }),
            emit(({ context }) => ({
              type: 'subagent_start' as const,
              execution_id: context.execution_id,
              data: {
                subagent_id: `sub_${context.current_call?.call_id ?? ''}`,
                call_id: context.current_call?.call_id ?? '',
                task: delegateArgsSchema.safeParse(context.current_call?.args).data?.task ?? '',
              },
            })),
            sendTo('subagent', ({ context }) => {
              const args = delegateArgsSchema.parse(context.current_call?.args);
              return {
                type: 'execute' as const,
                command: args.task,
                plan: args.plan,
                execution_id: `${context.execution_id ?? ''}/${context.current_call?.call_id ?? ''}`,
                by: context.executed_by ?? 'system',
              };
            }),
          ],
          exit: stopChild('subagent'),
          on: {
            'subagent.done': {
              target: '#session.thinking',
              actions: [
                'emitSubagentEnd',
                emit(({ context, event }) => ({
                  type: 'tool_result' as const,
                  execution_id: context.execution_id,
                  data: {
                    call_id: context.current_call?.call_id ?? '',
                    tool: 'delegate',
                    result:
                      event.type === 'subagent.done'
                        ? { summary: event.summary, results: event.results }
                        : null,
                  },
                })),
                assign({
                  history: ({ context, event }) =>
                    context.current_call && event.type === 'subagent.done'
                      ? [
                          ...context.history,
                          {
                            kind: 'result' as const,
                            ...context.current_call,
                            result: { summary: event.summary, results: event.results },
                          },
                        ]
                      : context.history,
                  current_call: null,
                }),
              ],
            },
            'subagent.failed': {
              target: '#session.failed',
              actions: [
                'emitSubagentEnd',
                assign({
                  error: ({ event }) => ({
                    code: 'subagent_failed',
                    message: event.type === 'subagent.failed' ? event.message : 'subagent failed',
                  }),
                }),
                'emitError',
              ],
            },
            'xstate.error.actor.subagent': {
              target: '#session.failed',
              actions: [
                'emitSubagentEnd',
                assign({
                  error: ({ event }) => ({
                    code: 'subagent_failed',
                    message: errorMessage(event.error),
                  }),
                }),
                'emitError',
              ],
            },
            cancel: {
              guard: 'isCurrentExecution',
              target: '#session.cancelled',
              actions: [
                emit(({ context }) => ({
                  type: 'subagent_end' as const,
                  execution_id: context.execution_id,
                  data: {
                    subagent_id: `sub_${context.current_call?.call_id ?? ''}`,
                    call_id: context.current_call?.call_id ?? '',
                    status: 'cancelled' as const,
                  },
                })),
                emit(({ context, event, self }) => ({
                  type: 'cancelled' as const,
                  execution_id: context.execution_id,
                  data: {
                    execution_id: context.execution_id ?? '',
                    cancelled_by: event.type === 'cancel' ? event.by : '',
                    aborted: abortedWork(context, self, 'subagent'),
                  },
                })),
              ],
            },
          },
        },
      },
    },
    complete: {
      entry: [
        emit(({ context }) => ({
          type: 'complete' as const,
          execution_id: context.execution_id,
          data: {
            execution_id: context.execution_id ?? '',
            summary: context.summary ?? '',
            steps: context.history.length,
          },
        })),
        'notifyParentDone',
      ],
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
