export type StoreErrorCode =
  | 'data_dir_locked'
  | 'seq_out_of_order'
  | 'unstorable_event'
  | 'store_closed';

/** A store failure with a stable code; SQL text and parameters never ride along. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}
