import type { Clock } from './clock.ts';

/** A piece of streamed assistant text, as one `message_delta` carries it. */
export interface DeltaFrame {
  execution_id: string;
  message_id: string;
  delta: string;
}

export interface MessageStream {
  /** Text from the planner; goes out at once, or with the next frame within `intervalMs`. */
  delta(executionId: string, messageId: string, text: string): void;
  /** The planner step is over: buffered text goes out now. */
  end(): void;
  onFrame(listener: (frame: DeltaFrame) => void): () => void;
}

/**
 * One session's streamed text, coalesced to at most one frame per `intervalMs`: the first
 * delta after a quiet spell goes out at once (first-token latency), later ones are batched.
 */
export function createMessageStream(clock: Clock, intervalMs = 30): MessageStream {
  const listeners = new Set<(frame: DeltaFrame) => void>();
  let buffered: DeltaFrame | null = null;
  let timer: unknown = null;
  let lastFrameAt = -Infinity;

  function flush(): void {
    if (timer !== null) clock.clearTimeout(timer);
    timer = null;
    const frame = buffered;
    buffered = null;
    if (!frame || frame.delta === '') return;
    lastFrameAt = clock.now();
    for (const listener of listeners) listener(frame);
  }

  return {
    delta(executionId, messageId, text) {
      if (buffered && buffered.message_id !== messageId) flush();
      buffered = buffered
        ? { ...buffered, delta: buffered.delta + text }
        : { execution_id: executionId, message_id: messageId, delta: text };
      const wait = lastFrameAt + intervalMs - clock.now();
      if (wait <= 0) flush();
      else timer ??= clock.setTimeout(flush, wait);
    },
    end: flush,
    onFrame(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
