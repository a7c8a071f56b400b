/** A parameter of the shared SQL: JSON goes in as text and is cast with `$n::text::jsonb`. */
export type SqlParam = string | number | boolean | null;

/** A row as the driver returns it: narrowed to record types by the mappers in `sql-rows.ts`. */
export type SqlRow = Record<string, unknown>;

/** What the shared SQL needs from a connection or an open transaction. */
export interface SqlQuerier {
  /** One statement with `$1`-style parameters. */
  query(text: string, params?: readonly SqlParam[]): Promise<SqlRow[]>;
  /** Several statements, no parameters (migrations). */
  exec(text: string): Promise<void>;
}

/** The tiny surface each backend adapts to, so the SQL of the store is written once. */
export interface SqlExecutor extends SqlQuerier {
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlQuerier) => Promise<T>): Promise<T>;
  /** Releases the connection(s). */
  close(): Promise<void>;
}
