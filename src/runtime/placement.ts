import type { SessionHost } from './session-host.ts';

/** Why a session's host left this process's memory. */
export type ReleaseReason = 'passivated' | 'moved' | 'lost' | 'closed';

/**
 * Where a session may live, in cluster mode (unset, one process: every session lives here).
 * The runtime asks before it loads a session and says when a host starts and leaves.
 */
export interface Placement {
  /** This node's id: sessions created here are owned by it from the start. */
  readonly nodeId: string;
  /**
   * Before a session is loaded here: resolves once this node owns it (claimed, its epoch held
   * by the store), or rejects with SessionElsewhere when a live node does.
   */
  acquire(sessionId: string): Promise<void>;
  /** A host of this node started (created, or loaded after acquire). */
  hosted(host: SessionHost): void;
  /**
   * Its host left memory here: passivated (the session is given up, so any node may take it
   * next), moved (a write found another node's epoch), lost (a failed write; it is restored
   * here), or the runtime closed.
   */
  released(sessionId: string, why: ReleaseReason): void;
}

/** A live node owns the session: it is served there, not loaded here. */
export class SessionElsewhere extends Error {
  constructor(
    readonly sessionId: string,
    readonly ownerNode: string,
  ) {
    super(`session ${sessionId} is owned by node ${ownerNode}`);
    this.name = 'SessionElsewhere';
  }
}
