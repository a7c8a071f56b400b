import { z } from 'zod';

/**
 * What model servers send, validated loosely: every field optional or nullable, unknown fields
 * kept out. Servers differ (OpenAI, Ollama, vLLM, llama.cpp, LM Studio); these schemas accept
 * the shapes they are known to send and nothing more is assumed.
 */
const toolCallFragmentSchema = z.object({
  index: z.number().int().min(0).nullish(),
  id: z.string().nullish(),
  function: z
    .object({
      name: z.string().nullish(),
      // Some servers send the arguments as an object instead of a JSON string.
      arguments: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish(),
    })
    .nullish(),
});
export type ToolCallFragment = z.infer<typeof toolCallFragmentSchema>;

const usageSchema = z.object({
  prompt_tokens: z.number().nonnegative().default(0),
  completion_tokens: z.number().nonnegative().default(0),
  total_tokens: z.number().nonnegative().optional(),
});

const errorSchema = z
  .object({
    message: z.string().nullish(),
    type: z.string().nullish(),
    code: z.union([z.string(), z.number()]).nullish(),
  })
  .or(z.string());

const deltaSchema = z.object({
  content: z.string().nullish(),
  tool_calls: z.array(toolCallFragmentSchema).nullish(),
});

/** One `data:` payload of a streamed answer. */
export const chatChunkSchema = z.object({
  model: z.string().nullish(),
  choices: z
    .array(z.object({ delta: deltaSchema.nullish(), finish_reason: z.string().nullish() }))
    .nullish(),
  usage: usageSchema.nullish(),
  error: errorSchema.nullish(),
});
export type ChatChunk = z.infer<typeof chatChunkSchema>;

/** A whole `chat.completion` answer: what a server that ignored `stream: true` sends. */
export const chatCompletionSchema = z.object({
  model: z.string().nullish(),
  choices: z
    .array(z.object({ message: deltaSchema.nullish(), finish_reason: z.string().nullish() }))
    .nullish(),
  usage: usageSchema.nullish(),
  error: errorSchema.nullish(),
});
export type ChatCompletion = z.infer<typeof chatCompletionSchema>;

/** The human message of an upstream error object, whatever its shape. */
export function upstreamErrorMessage(error: z.infer<typeof errorSchema>): string {
  if (typeof error === 'string') return error;
  return error.message ?? error.type ?? String(error.code ?? 'unknown error');
}
