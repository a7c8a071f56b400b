import postgres from 'postgres';

/**
 * A connection of its own for session-level advisory locks, which PostgreSQL releases with the
 * connection that took them (however its process dies): one connection, never recycled, for
 * a new one would not hold them. postgres.js still reconnects by itself after a drop, so the
 * holder compares `backendPid` to the one that took the lock.
 */
export function openLockConnection(options: {
  url: string;
  schema?: string | undefined;
  /** Shown in pg_stat_activity (PostgreSQL keeps its first 63 bytes). */
  applicationName: string;
  /** Called when the connection closed, ended on purpose or not: its locks are gone. */
  onclose?: (() => void) | undefined;
}): postgres.Sql {
  const { onclose } = options;
  return postgres(options.url, {
    max: 1,
    onnotice: () => {},
    ...(onclose ? { onclose: () => onclose() } : {}),
    // idle_timeout is off by default too.
    max_lifetime: null,
    connection: {
      application_name: options.applicationName,
      ...(options.schema === undefined ? {} : { search_path: options.schema }),
    },
  });
}

export async function backendPid(sql: postgres.Sql): Promise<number> {
  const [row] = await sql.unsafe<{ pid: number }[]>('SELECT pg_backend_pid() AS pid');
  return row?.pid ?? 0;
}
