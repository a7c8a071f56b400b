import { AppError } from '../errors.ts';

export type StoreErrorCode =
  'data_dir_locked' | 'seq_out_of_order' | 'unstorable_event' | 'store_closed';

const STATUS: Record<StoreErrorCode, number> = {
  data_dir_locked: 503,
  seq_out_of_order: 500,
  unstorable_event: 500,
  store_closed: 503,
};

/** A store failure with a stable code; SQL text and parameters never ride along. */
export class StoreError extends AppError {
  declare readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string) {
    super(code, message, STATUS[code]);
    this.name = 'StoreError';
  }
}
