import type { Connection } from '../connection.ts';

/** Topic subscriptions for a transport without a built-in pub/sub (uWS has its own). */
export function createTopics() {
  const byTopic = new Map<string, Set<Connection>>();
  const byConn = new Map<Connection, Set<string>>();
  const none: ReadonlySet<Connection> = new Set();
  return {
    add(topic: string, conn: Connection): void {
      let members = byTopic.get(topic);
      if (!members) byTopic.set(topic, (members = new Set()));
      members.add(conn);
      let joined = byConn.get(conn);
      if (!joined) byConn.set(conn, (joined = new Set()));
      joined.add(topic);
    },
    of: (topic: string): ReadonlySet<Connection> => byTopic.get(topic) ?? none,
    removeAll(conn: Connection): void {
      for (const topic of byConn.get(conn) ?? []) {
        const members = byTopic.get(topic);
        members?.delete(conn);
        if (members?.size === 0) byTopic.delete(topic);
      }
      byConn.delete(conn);
    },
  };
}
