import type { ToolCallFragment } from './chat-chunk.ts';

/** One tool call as the model streamed it, before its arguments are parsed. */
export interface AssembledToolCall {
  /** The model's id for the call; missing on some servers. */
  id: string | undefined;
  name: string;
  /** Concatenated argument fragments, or the object a server sent instead of a string. */
  arguments: string | Record<string, unknown>;
}

export interface ToolCallAssembler {
  add(fragment: ToolCallFragment): void;
  /** The calls in the order they started; call once the stream has ended. */
  calls(): AssembledToolCall[];
}

/**
 * Joins streamed tool-call fragments by `index`. A fragment with a new `id` at an index that
 * already holds a call with another id starts a new call: some servers send every parallel
 * call at index 0.
 */
export function createToolCallAssembler(): ToolCallAssembler {
  const calls: AssembledToolCall[] = [];
  const current = new Map<number, AssembledToolCall>();

  return {
    add(fragment) {
      const index = fragment.index ?? 0;
      const id = fragment.id ?? undefined;
      let call = current.get(index);
      if (!call || (id !== undefined && call.id !== undefined && call.id !== id)) {
        call = { id, name: '', arguments: '' };
        calls.push(call);
        current.set(index, call);
      } else if (call.id === undefined && id !== undefined) {
        call.id = id;
      }
      const name = fragment.function?.name;
      // Most servers send the name once; some repeat it in every fragment.
      if (name && name !== call.name) call.name += name;
      const args = fragment.function?.arguments;
      if (typeof args === 'string') {
        call.arguments = typeof call.arguments === 'string' ? call.arguments + args : args;
      } else if (args) {
        call.arguments = args;
      }
    },
    calls: () => calls.filter((call) => call.name !== '' || call.arguments !== ''),
  };
}
