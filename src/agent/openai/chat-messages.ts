import { z } from 'zod';
import type { ToolArgs } from '../../../machines/session.events.ts';
import type {
  AssistantMessage,
  HistoryEntry,
  PlannerInput,
} from '../../../machines/session.types.ts';
import { answeredCall, outcomesByCall, type ToolOutcome } from '../tool-outcomes.ts';
import type { ToolDefinition } from '../tool.ts';

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ChatToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ChatTool {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

export const DEFAULT_SYSTEM_PROMPT =
  "You carry out the user's command with the tools you are given, one step at a time. " +
  'Some calls wait for a human to approve, edit or reject them; a rejected call comes back ' +
  'with its reason, and an edited call shows the arguments that ran. ' +
  'When the command is done, or cannot be done, answer with a short summary.';

/** The tools as the model sees them: each one's args schema as JSON Schema (its input side). */
export function chatTools(tools: readonly ToolDefinition[]): ChatTool[] {
  return tools.map((tool) => {
    const { $schema: _, ...parameters } = z.toJSONSchema(tool.args, {
      io: 'input',
      unrepresentable: 'any',
    });
    return {
      type: 'function',
      function: { name: tool.name, description: tool.description, parameters },
    };
  });
}

/** An assistant turn; `content` is null when the model said nothing besides its calls. */
export function assistantChatMessage(
  text: string,
  calls: ReadonlyArray<{ id: string; name: string; arguments: string }>,
): ChatMessage {
  return {
    role: 'assistant',
    content: text === '' ? null : text,
    ...(calls.length > 0
      ? {
          tool_calls: calls.map((call) => ({
            id: call.id,
            type: 'function' as const,
            function: { name: call.name, arguments: call.arguments },
          })),
        }
      : {}),
  };
}

export function toolChatMessage(toolCallId: string, content: string): ChatMessage {
  return { role: 'tool', tool_call_id: toolCallId, content };
}

/** What the model is told of a call that ran, or of its rejection. */
export function outcomeContent(outcome: ToolOutcome | undefined): string {
  if (!outcome) return 'not run: the execution moved on without this call';
  if (outcome.kind === 'result') return JSON.stringify(outcome.result) ?? 'null';
  if (outcome.reason === 'expired') return 'not run: the approval expired before anyone decided';
  return `rejected by ${outcome.by}: ${outcome.reason} (the call did not run)`;
}

/**
 * The conversation so far, rebuilt from the execution's history: the system prompt, the
 * command, then each model turn followed by one tool message per call it made. A call that
 * ran with edited args shows the edited args, so the model sees what actually ran.
 */
export function buildConversation(input: PlannerInput, systemPrompt: string): ChatMessage[] {
  const messages: ChatMessage[] = [
    { role: 'system', content: systemPrompt },
    { role: 'user', content: input.command },
  ];
  const outcomes = outcomesByCall(input.history);
  const fromTurns = new Set(turnCallIds(input.history));
  for (const entry of input.history) {
    if (entry.kind === 'message') {
      messages.push(...turnMessages(entry.message, outcomes));
    } else if (!fromTurns.has(answeredCall(entry))) {
      // A call no model turn made (a plan step): shown as if the model had made it.
      const call = { id: entry.call_id, name: entry.tool, arguments: JSON.stringify(entry.args) };
      messages.push(
        assistantChatMessage('', [call]),
        toolChatMessage(call.id, outcomeContent(entry)),
      );
    }
  }
  return messages;
}

function turnMessages(
  message: AssistantMessage,
  outcomes: ReadonlyMap<string, ToolOutcome>,
): ChatMessage[] {
  const argsRun = (call_id: string, args: ToolArgs): ToolArgs => {
    const outcome = outcomes.get(call_id);
    return outcome?.kind === 'result' ? outcome.args : args;
  };
  const calls = message.tool_calls.map((call) => ({
    id: call.model_call_id,
    name: call.tool,
    arguments: JSON.stringify(argsRun(call.call_id, call.args)),
  }));
  return [
    assistantChatMessage(message.text, calls),
    ...message.tool_calls.map((call) =>
      toolChatMessage(call.model_call_id, outcomeContent(outcomes.get(call.call_id))),
    ),
  ];
}

function turnCallIds(history: readonly HistoryEntry[]): string[] {
  return history.flatMap((e) =>
    e.kind === 'message' ? e.message.tool_calls.map((c) => c.call_id) : [],
  );
}
