export type {
  ApprovalRecord,
  ApprovalStatus,
  ChainVerification,
  ClaimResult,
  DecideResult,
  Decision,
  ExecutionRecord,
  Ownership,
  SessionRecord,
  Store,
  StoredEvent,
  ToolOutcome,
} from './store.ts';
export { canonicalJson, chainHash, GENESIS_HASH, verifyEvents } from './event-chain.ts';
export { createMemoryStore } from './memory-store.ts';
export { openStore } from './open-store.ts';
export { openPgliteStore, MEMORY_DATA_DIR } from './pglite-store.ts';
export { openPostgresStore, type PostgresStoreOptions } from './postgres-store.ts';
export type { SqlStore } from './sql-store.ts';
export { StoreError, type StoreErrorCode } from './store-error.ts';
export { acquireDataDirLock, LOCK_FILE, type DataDirLock } from './data-dir-lock.ts';
