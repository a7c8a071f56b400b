import { enqueueSession } from './session.actions.ts';
import { plannerOutput } from './session.actors.ts';
import type { EmittedData } from './session.emitted.ts';
import type { AssistantMessage } from './session.types.ts';

/** The `message` event of a model turn (`discarded`: why none of its calls ran). */
function messageData(message: AssistantMessage, discarded?: string): EmittedData<'message'> {
  return {
    message_id: message.message_id,
    text: message.text,
    model: message.model,
    finish_reason: message.finish_reason,
    usage: message.usage,
    tool_calls: message.tool_calls.map(({ call_id, tool, args }) => ({ call_id, tool, args })),
    ...(discarded !== undefined ? { discarded } : {}),
  };
}

/** The model turns behind a planner step: stored as `message` events, the acted-on one kept in history. */
export const messageActions = {
  recordMessages: enqueueSession(({ context, event, enqueue }) => {
    const output = plannerOutput(event);
    if (!output) return;
    const execution_id = context.execution_id;
    for (const turn of output.discarded ?? []) {
      enqueue.emit({
        type: 'message',
        execution_id,
        data: messageData(turn.message, turn.problem),
      });
    }
    const { message } = output;
    if (!message) return;
    enqueue.assign({ history: [...context.history, { kind: 'message', message }] });
    enqueue.emit({ type: 'message', execution_id, data: messageData(message) });
  }),
};
