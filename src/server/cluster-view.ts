/**
 * What the server reads of its cluster node (cluster mode only), for `/readyz` and `/metrics`.
 * The server does not know the cluster's parts: start-server hands it this.
 */
export interface ClusterView {
  /** Heartbeating within its lease and connected to NATS: it may serve. */
  ready(): boolean;
  status(): {
    node_id: string;
    state: string;
    nats: string;
    lease_ms: number;
    owned_sessions: number;
    followed_sessions: number;
    counters: {
      claims: number;
      forwarded: number;
      served: number;
      takeovers: number;
      gap_fills: number;
    };
  };
}
