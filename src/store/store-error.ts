import { AppError } from '../errors.ts';

export type StoreErrorCode =
  | 'data_dir_locked'
  | 'database_locked'
  | 'seq_out_of_order'
  | 'unstorable_event'
  | 'store_closed'
  | 'store_unavailable'
  | 'store_query_failed'
  | 'session_moved'
  | 'session_not_found';

const STATUS: Record<StoreErrorCode, number> = {
  data_dir_locked: 503,
  database_locked: 503,
  seq_out_of_order: 500,
  unstorable_event: 500,
  store_closed: 503,
  store_unavailable: 503,
  store_query_failed: 500,
  // Not the client's fault, and over once it reconnects (to the session's new owner).
  session_moved: 503,
  session_not_found: 404,
};

/** How soon a client may retry what a store error refused, when that is worth doing. */
const RETRY_AFTER_MS: Partial<Record<StoreErrorCode, number>> = {
  store_unavailable: 1_000,
  session_moved: 250,
};

/** What a store error may say about its cause: never the query, its parameters or a value. */
export interface StoreErrorFields {
  /** The SQLSTATE of a database error (`23505`, `22P02`). */
  sqlState?: string | undefined;
  table?: string | undefined;
  constraint?: string | undefined;
  sessionId?: string | undefined;
}

/** A store failure with a stable code; SQL text and parameters never ride along. */
export class StoreError extends AppError {
  declare readonly code: StoreErrorCode;
  declare readonly sqlState?: string;
  declare readonly table?: string;
  declare readonly constraint?: string;
  declare readonly sessionId?: string;

  constructor(code: StoreErrorCode, message: string, fields: StoreErrorFields = {}) {
    const retry = RETRY_AFTER_MS[code];
    super(code, message, STATUS[code], retry === undefined ? undefined : { retry_after_ms: retry });
    this.name = 'StoreError';
    // Only the fields that are known become (enumerable, logged) properties.
    for (const [key, value] of Object.entries(fields)) {
      if (typeof value === 'string') Object.assign(this, { [key]: value });
    }
  }
}

/** The database cannot be reached (`cause`: a SQLSTATE or a socket error code). */
export function storeUnavailable(cause: string): StoreError {
  return new StoreError(
    'store_unavailable',
    `the database is unreachable (${cause}); retry shortly`,
  );
}
