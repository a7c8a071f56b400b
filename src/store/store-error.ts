import { AppError } from '../errors.ts';

export type StoreErrorCode =
  | 'data_dir_locked'
  | 'database_locked'
  | 'seq_out_of_order'
  | 'unstorable_event'
  | 'store_closed'
  | 'store_query_failed';

const STATUS: Record<StoreErrorCode, number> = {
  data_dir_locked: 503,
  database_locked: 503,
  seq_out_of_order: 500,
  unstorable_event: 500,
  store_closed: 503,
  store_query_failed: 500,
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
    super(code, message, STATUS[code]);
    this.name = 'StoreError';
    // Only the fields that are known become (enumerable, logged) properties.
    for (const [key, value] of Object.entries(fields)) {
      if (typeof value === 'string') Object.assign(this, { [key]: value });
    }
  }
}
