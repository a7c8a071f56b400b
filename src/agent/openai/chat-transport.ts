import type { Logger } from 'pino';
import { isAppError } from '../../errors.ts';
import { abortError } from '../tool.ts';
import { chatCompletionSchema, upstreamErrorMessage } from './chat-chunk.ts';
import { llmErrors, networkReason, redactError } from './llm-errors.ts';
import { backoffMs, isRetryableStatus, retryAfterMs, type Sleep } from './retry.ts';
import { readBodyText, type BodyProgress } from './sse.ts';

export interface ChatTransportOptions {
  url: string;
  apiKey: string | undefined;
  timeoutMs: number;
  maxRetries: number;
  fetch: typeof fetch;
  sleep: Sleep;
  now: () => number;
  redact: (text: string) => string;
  logger: Logger | undefined;
}

/** What a reader gets of a 2xx answer; `progress.bytes` > 0 ends all retrying. */
export interface ChatAnswer {
  response: Response;
  progress: BodyProgress;
}

export interface ChatTransport {
  /**
   * POSTs `body` and hands a 2xx answer to `read`. Connection errors, 408, 429 and 5xx are
   * retried with backoff, but only while no byte of a 2xx body has arrived. The timeout covers
   * each request from sending to the last byte read. An abort rejects with its reason.
   */
  send<T>(body: unknown, signal: AbortSignal, read: (answer: ChatAnswer) => Promise<T>): Promise<T>;
}

/** A failure worth asking again (before any of the answer arrived). */
class Retryable {
  constructor(
    readonly detail: string,
    readonly retryAfter: number | undefined,
  ) {}
}

export function createChatTransport(options: ChatTransportOptions): ChatTransport {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'text/event-stream, application/json',
  };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;

  async function attempt<T>(
    payload: string,
    signal: AbortSignal,
    read: (answer: ChatAnswer) => Promise<T>,
  ): Promise<T | Retryable> {
    const controller = new AbortController();
    let timedOut = false;
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('timeout'));
    }, options.timeoutMs);
    const progress: BodyProgress = { bytes: 0 };
    try {
      const response = await options.fetch(options.url, {
        method: 'POST',
        headers,
        body: payload,
        signal: controller.signal,
      });
      if (!response.ok) return await refusal(response);
      return await read({ response, progress });
    } catch (error) {
      if (signal.aborted) throw abortError(signal);
      if (timedOut) throw llmErrors.timeout(options.timeoutMs);
      if (isAppError(error)) throw redactError(error, options.redact);
      const reason = options.redact(networkReason(error));
      if (progress.bytes === 0) return new Retryable(reason, undefined);
      throw llmErrors.streamError(reason);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  async function refusal(response: Response): Promise<Retryable> {
    const text = await readBodyText(response.body, { bytes: 0 }, 16 * 1024);
    const detail = options.redact(errorDetail(text) || response.statusText || 'no details');
    if (isRetryableStatus(response.status)) {
      const retryAfter = retryAfterMs(response.headers.get('retry-after'), options.now());
      return new Retryable(`${response.status} ${detail}`, retryAfter);
    }
    if (response.status === 401 || response.status === 403) {
      throw llmErrors.authFailed(response.status, detail);
    }
    throw llmErrors.badRequest(response.status, detail);
  }

  return {
    async send(body, signal, read) {
      const payload = JSON.stringify(body);
      for (let retries = 0; ; retries++) {
        if (signal.aborted) throw abortError(signal);
        const outcome = await attempt(payload, signal, read);
        if (!(outcome instanceof Retryable)) return outcome;
        if (retries >= options.maxRetries) throw llmErrors.unavailable(outcome.detail, retries + 1);
        const delayMs = backoffMs(retries, outcome.retryAfter);
        options.logger?.warn(
          { attempt: retries + 1, delay_ms: delayMs, reason: outcome.detail },
          'model request failed; retrying',
        );
        await options.sleep(delayMs, signal);
      }
    },
  };
}

/** The upstream's own error message from an error body (JSON or text), one line. */
function errorDetail(text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text.trim().replace(/\s+/g, ' ').slice(0, 500);
  }
  const parsed = chatCompletionSchema.safeParse(value);
  if (parsed.success && parsed.data.error) return upstreamErrorMessage(parsed.data.error);
  if (typeof value === 'object' && value !== null && 'message' in value)
    return String(value.message);
  if (typeof value === 'object' && value !== null && 'detail' in value) return String(value.detail);
  return text.slice(0, 500);
}
