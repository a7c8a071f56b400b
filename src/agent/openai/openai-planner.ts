import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type {
  AssistantMessage,
  AssistantToolCall,
  DiscardedTurn,
  HistoryEntry,
  PlannerInput,
} from '../../../machines/session.types.ts';
import type { Planner, PlannerContext, PlannerStep } from '../planner.ts';
import { answeredCall, toolOutcomes } from '../tool-outcomes.ts';
import { abortError, type ToolDefinition } from '../tool.ts';
import {
  assistantChatMessage,
  buildConversation,
  chatTools,
  DEFAULT_SYSTEM_PROMPT,
  toolChatMessage,
  type ChatMessage,
} from './chat-messages.ts';
import { createChatTransport } from './chat-transport.ts';
import { readChatTurn, type ModelTurn } from './chat-turn.ts';
import { createRedactor, llmErrors } from './llm-errors.ts';
import { sleep as realSleep, type Sleep } from './retry.ts';
import { checkToolCalls, type CheckedToolCall } from './tool-call-check.ts';

export interface OpenAIPlannerOptions {
  /** The server's API root, e.g. `http://127.0.0.1:11434/v1`; requests go to `/chat/completions`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`; never logged, never in an error message. */
  apiKey?: string | undefined;
  model: string;
  tools: readonly ToolDefinition[];
  /** Each request, from sending it to its answer's last byte. Default 60 000. */
  timeoutMs?: number;
  /** Retries of a request that failed before its answer began. Default 2. */
  maxRetries?: number;
  /** Model turns per execution (those in the history and those made now). Default 10. */
  maxSteps?: number;
  systemPrompt?: string;
  fetch?: typeof fetch;
  logger?: Logger;
  /** The wait between retries; injectable so tests need not wait. */
  sleep?: Sleep;
  /** Milliseconds since the epoch, for `Retry-After` dates. */
  now?: () => number;
}

export const OPENAI_PLANNER_DEFAULTS = { timeoutMs: 60_000, maxRetries: 2, maxSteps: 10 } as const;

const newId = (prefix: 'msg' | 'call') => `${prefix}_${randomUUID().replaceAll('-', '')}`;

/**
 * A planner backed by an OpenAI-compatible Chat Completions server, streaming. Each model turn
 * comes back as an AssistantMessage; its first tool call is returned at once, the others on
 * the following steps from the history, without asking the model again.
 */
export function createOpenAIPlanner(options: OpenAIPlannerOptions): Planner {
  const maxSteps = options.maxSteps ?? OPENAI_PLANNER_DEFAULTS.maxSteps;
  const systemPrompt = options.systemPrompt ?? DEFAULT_SYSTEM_PROMPT;
  const tools = new Map(options.tools.map((tool) => [tool.name, tool]));
  const toolSpecs = chatTools(options.tools);
  const logger = options.logger;
  const transport = createChatTransport({
    url: `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`,
    apiKey: options.apiKey,
    timeoutMs: options.timeoutMs ?? OPENAI_PLANNER_DEFAULTS.timeoutMs,
    maxRetries: options.maxRetries ?? OPENAI_PLANNER_DEFAULTS.maxRetries,
    fetch: options.fetch ?? globalThis.fetch,
    sleep: options.sleep ?? realSleep,
    now: options.now ?? Date.now,
    redact: createRedactor(options.apiKey),
    logger,
  });

  const requestBody = (messages: readonly ChatMessage[]) => ({
    model: options.model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
    ...(toolSpecs.length > 0 ? { tools: toolSpecs } : {}),
  });

  async function askModel(
    messages: readonly ChatMessage[],
    messageId: string,
    context: PlannerContext,
  ): Promise<ModelTurn> {
    const onDelta = context.onDelta;
    const deliver = (delta: string) => {
      try {
        onDelta?.(messageId, delta);
      } catch (error) {
        // A listener's throw must not break the stream.
        logger?.error({ err: error }, 'onDelta listener threw');
      }
    };
    return transport.send(requestBody(messages), context.signal, ({ response, progress }) =>
      readChatTurn(response, progress, deliver),
    );
  }

  return {
    async next(input: PlannerInput, context: PlannerContext): Promise<PlannerStep> {
      if (context.signal.aborted) throw abortError(context.signal);
      const pending = nextPendingCall(input.history);
      if (pending) {
        return { kind: 'call', call_id: pending.call_id, tool: pending.tool, args: pending.args };
      }
      const messages = buildConversation(input, systemPrompt);
      let turns = input.history.filter((entry) => entry.kind === 'message').length;
      const discarded: DiscardedTurn[] = [];
      const extra = () => (discarded.length > 0 ? { discarded } : {});
      for (;;) {
        if (turns >= maxSteps) throw llmErrors.stepLimit(maxSteps);
        turns += 1;
        const message_id = newId('msg');
        const turn = await askModel(messages, message_id, context);
        const calls = checkToolCalls(turn.tool_calls, tools, () => newId('call'));
        if (calls.every((call) => call.problem === null)) {
          const message = assistantMessage(message_id, turn, calls, options.model);
          const first = message.tool_calls[0];
          if (!first) return { kind: 'final', summary: message.text, message, ...extra() };
          return {
            kind: 'call',
            call_id: first.call_id,
            tool: first.tool,
            args: first.args,
            message,
            ...extra(),
          };
        }
        // Nothing of this turn runs: the model hears why and gets another turn.
        const problems = calls.flatMap((c) => c.problem ?? []);
        logger?.warn({ message_id, problems }, 'model made calls that cannot run; asking again');
        discarded.push({
          message: assistantMessage(message_id, turn, [], options.model),
          problem: problems.join('; '),
        });
        messages.push(
          assistantChatMessage(
            turn.text,
            calls.map((c) => ({ id: c.model_call_id, name: c.tool, arguments: c.arguments })),
          ),
          ...calls.map((call) => toolChatMessage(call.model_call_id, problemContent(call))),
        );
      }
    },
  };
}

function assistantMessage(
  message_id: string,
  turn: ModelTurn,
  calls: readonly CheckedToolCall[],
  configuredModel: string,
): AssistantMessage {
  return {
    message_id,
    text: turn.text,
    model: turn.model ?? configuredModel,
    finish_reason: turn.finish_reason,
    usage: turn.usage,
    tool_calls: calls.map((call): AssistantToolCall => ({
      call_id: newId('call'),
      model_call_id: call.model_call_id,
      tool: call.tool,
      args: call.args,
    })),
  };
}

function problemContent(call: CheckedToolCall): string {
  return call.problem === null
    ? 'not run: another call in this turn was invalid; make this call again if it is still needed'
    : `error: ${call.problem}. The call did not run; fix it and call again.`;
}

/** The first call of the latest model turn that has neither run nor been rejected yet. */
function nextPendingCall(history: readonly HistoryEntry[]): AssistantToolCall | undefined {
  const last = history.findLast((entry) => entry.kind === 'message');
  if (last?.kind !== 'message') return undefined;
  const settled = new Set(toolOutcomes(history).map(answeredCall));
  return last.message.tool_calls.find((call) => !settled.has(call.call_id));
}
