import type { z } from 'zod';
import type { TokenUsage } from '../../../machines/session.types.ts';
import {
  chatChunkSchema,
  chatCompletionSchema,
  upstreamErrorMessage,
  type ChatChunk,
} from './chat-chunk.ts';
import { llmErrors } from './llm-errors.ts';
import { readBodyText, readSseData, type BodyProgress } from './sse.ts';
import { createToolCallAssembler, type AssembledToolCall } from './tool-call-assembly.ts';

/** One model turn as it came off the wire, before its tool calls are checked. */
export interface ModelTurn {
  text: string;
  /** The model the server says answered; undefined when it did not say. */
  model: string | undefined;
  finish_reason: string | null;
  usage: TokenUsage | null;
  tool_calls: AssembledToolCall[];
}

/**
 * Reads an answer: server-sent events, or one JSON `chat.completion` when the server ignored
 * `stream: true` (told apart by content-type). Text deltas go to `onDelta` as they arrive.
 */
export async function readChatTurn(
  response: Response,
  progress: BodyProgress,
  onDelta: (delta: string) => void,
): Promise<ModelTurn> {
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('json') && !type.includes('event-stream')) {
    return readCompletion(await readBodyText(response.body, progress), onDelta);
  }
  if (!response.body) throw llmErrors.streamError('the answer had no body');

  const assembler = createToolCallAssembler();
  const turn = emptyTurn();
  let done = false;
  for await (const data of readSseData(response.body, progress)) {
    if (data.trim() === '[DONE]') {
      done = true;
      break;
    }
    if (data.trim() === '') continue;
    const chunk = parseJson(data, chatChunkSchema, 'a stream chunk');
    applyCommon(turn, chunk);
    for (const choice of chunk.choices ?? []) {
      const content = choice.delta?.content;
      if (content) {
        turn.text += content;
        onDelta(content);
      }
      for (const fragment of choice.delta?.tool_calls ?? []) assembler.add(fragment);
      if (choice.finish_reason) turn.finish_reason = choice.finish_reason;
    }
  }
  turn.tool_calls = assembler.calls();
  // Some servers end without [DONE]; that is fine once the answer is there.
  if (!done && turn.text === '' && turn.tool_calls.length === 0 && turn.finish_reason === null) {
    throw llmErrors.streamError('the stream ended before any answer arrived');
  }
  return turn;
}

function readCompletion(body: string, onDelta: (delta: string) => void): ModelTurn {
  const completion = parseJson(body, chatCompletionSchema, 'the answer');
  const turn = emptyTurn();
  applyCommon(turn, completion);
  const choice = completion.choices?.[0];
  if (!choice) throw llmErrors.streamError('the answer has no choices');
  turn.text = choice.message?.content ?? '';
  turn.finish_reason = choice.finish_reason ?? null;
  if (turn.text !== '') onDelta(turn.text);
  const assembler = createToolCallAssembler();
  (choice.message?.tool_calls ?? []).forEach((call, index) =>
    assembler.add({ ...call, index: call.index ?? index }),
  );
  turn.tool_calls = assembler.calls();
  return turn;
}

function applyCommon(turn: ModelTurn, chunk: Pick<ChatChunk, 'error' | 'model' | 'usage'>): void {
  if (chunk.error) {
    throw llmErrors.streamError(`the server sent an error: ${upstreamErrorMessage(chunk.error)}`);
  }
  if (chunk.model && turn.model === undefined) turn.model = chunk.model;
  if (chunk.usage) {
    const { prompt_tokens, completion_tokens, total_tokens } = chunk.usage;
    turn.usage = {
      prompt_tokens,
      completion_tokens,
      total_tokens: total_tokens ?? prompt_tokens + completion_tokens,
    };
  }
}

function parseJson<T>(text: string, schema: z.ZodType<T>, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw llmErrors.streamError(`${what} is not JSON: ${text.slice(0, 200)}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw llmErrors.streamError(`${what} has an unexpected shape`);
  return parsed.data;
}

function emptyTurn(): ModelTurn {
  return { text: '', model: undefined, finish_reason: null, usage: null, tool_calls: [] };
}
