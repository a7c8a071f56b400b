import { createParser } from 'eventsource-parser';

/** Counts what arrived of a response body: retries stop once `bytes` is above 0. */
export interface BodyProgress {
  bytes: number;
}

const MAX_EVENT_CHARS = 4 * 1024 * 1024;

/**
 * The `data` payloads of a server-sent-events body, in order, as they arrive. Ends at the end
 * of the body; `[DONE]` is yielded like any other payload (the caller decides it ends the
 * answer). A body read that fails (a dropped connection, an abort) rejects.
 */
export async function* readSseData(
  body: ReadableStream<Uint8Array>,
  progress: BodyProgress,
): AsyncGenerator<string> {
  const pending: string[] = [];
  let parseError: Error | undefined;
  const parser = createParser({
    onEvent: (event) => pending.push(event.data),
    onError: (error) => {
      if (error.type === 'max-buffer-size-exceeded') parseError = error;
    },
    maxBufferSize: MAX_EVENT_CHARS,
  });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      progress.bytes += value.byteLength;
      parser.feed(decoder.decode(value, { stream: true }));
      if (parseError) throw parseError;
      yield* pending.splice(0);
    }
    parser.feed(decoder.decode());
    parser.reset({ consume: true });
    yield* pending.splice(0);
  } finally {
    // Leaving early (an error chunk, [DONE]) must not keep the connection reading.
    await reader.cancel().catch(() => undefined);
  }
}

/** The whole body as text, up to `limit` characters: for error answers and plain JSON. */
export async function readBodyText(
  body: ReadableStream<Uint8Array> | null,
  progress: BodyProgress,
  limit = 1024 * 1024,
): Promise<string> {
  if (!body) return '';
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      progress.bytes += value.byteLength;
      text += decoder.decode(value, { stream: true });
      if (text.length >= limit) break;
    }
    return (text + decoder.decode()).slice(0, limit);
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
