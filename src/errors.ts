/**
 * The one error type that crosses module boundaries. `code` is stable and listed in
 * docs/errors.md; `status` is the HTTP status a REST answer uses.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, status = 400, details?: Record<string, unknown>) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** What a client may see of any error: internal ones become `internal_error`, no stack, no SQL. */
export function toWireError(error: unknown): {
  code: string;
  message: string;
  status: number;
  retryAfterMs?: number;
} {
  if (!isAppError(error)) return { code: 'internal_error', message: 'internal error', status: 500 };
  const wire = { code: error.code, message: error.message, status: error.status };
  const retry = error.details?.['retry_after_ms'];
  return typeof retry === 'number' ? { ...wire, retryAfterMs: retry } : wire;
}
