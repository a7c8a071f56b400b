import { AppError } from '../../errors.ts';

/**
 * The planner's errors. Messages name the upstream status and its own error message, never
 * the request, its headers or the API key (`redact` removes the key if a server echoes it).
 */
export const llmErrors = {
  unavailable: (detail: string, attempts: number) =>
    new AppError(
      'llm_unavailable',
      `the model server is unavailable after ${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}: ${detail}`,
      503,
      { attempts },
    ),
  timeout: (timeoutMs: number) =>
    new AppError(
      'llm_timeout',
      `the model server did not finish answering within ${timeoutMs} ms`,
      504,
    ),
  badRequest: (status: number, detail: string) =>
    new AppError(
      'llm_bad_request',
      `the model server refused the request (${status}): ${detail}`,
      502,
      {
        upstream_status: status,
      },
    ),
  authFailed: (status: number, detail: string) =>
    new AppError(
      'llm_auth_failed',
      `the model server refused the credentials (${status}): ${detail}`,
      502,
      { upstream_status: status },
    ),
  streamError: (detail: string) =>
    new AppError('llm_stream_error', `the model server's answer broke off: ${detail}`, 502),
  stepLimit: (maxSteps: number) =>
    new AppError(
      'planner_step_limit',
      `the model used its ${maxSteps} turns for this execution without finishing`,
      422,
      { max_steps: maxSteps },
    ),
};

/** Removes the API key from text that came from a server (some echo it in auth errors). */
export function createRedactor(apiKey: string | undefined): (text: string) => string {
  if (!apiKey) return (text) => text;
  return (text) => text.replaceAll(apiKey, '[redacted]');
}

/** The same error with the key removed from its message, when a server echoed it. */
export function redactError(error: AppError, redact: (text: string) => string): AppError {
  const message = redact(error.message);
  if (message === error.message) return error;
  return new AppError(error.code, message, error.status, error.details);
}

/** A short one-line reason for a thrown network error (`fetch failed: ECONNREFUSED`). */
export function networkReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  const code =
    typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : '';
  return code ? `${error.message} (${code})` : error.message;
}
