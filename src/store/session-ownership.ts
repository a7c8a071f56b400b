import { AppError } from '../errors.ts';
import { StoreError } from './store-error.ts';

/** A node id goes into SQL keys, logs and NATS subjects: a short safe token only. */
const NODE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** Throws unless `nodeId` is 1-64 letters, digits, `-`, `_` or `.`. */
export function checkNodeId(nodeId: string): void {
  if (!NODE_ID.test(nodeId)) {
    throw new AppError(
      'invalid_node_id',
      `node id ${JSON.stringify(nodeId)} is not a safe token: use 1-64 letters, digits, '-', '_' or '.'`,
      500,
    );
  }
}

/** What a session's row says of its owner. */
export interface Ownership {
  /** The node that claimed it last, or null: nobody (single-process mode, or never claimed). */
  owner_node: string | null;
  owner_epoch: number;
}

/** A claim won (`epoch` is the new one, now held), or lost to the owner it names. */
export type ClaimResult = { ok: true; epoch: number } | ({ ok: false } & Ownership);

/**
 * The epochs this store holds, per session: what its writes are fenced with. A session whose
 * write was fenced out is kept as lost (null), so it cannot write again until it is claimed
 * again. In fencing mode (cluster mode) a session with no epoch held is not written at all,
 * and no batch goes out once the node's lease has lapsed.
 */
export interface HeldEpochs {
  /** The held epoch; null when the session was lost; undefined when nothing is known. */
  get(sessionId: string): number | null | undefined;
  hold(sessionId: string, epoch: number): void;
  /** Fenced out: later writes of the session are refused until it is claimed again. */
  lose(sessionId: string): void;
  /** Given up: nothing is held or remembered. */
  forget(sessionId: string): void;
  fence(leaseValid: () => boolean): void;
  /**
   * Why this session may not be written now (lost, not held in fencing mode, lease lapsed),
   * or undefined when it may: its held epoch, if any, still has to match in the statement.
   */
  refusal(sessionId: string): StoreError | undefined;
  /** Fencing mode is on: writes that name no session cannot be fenced, so they are refused. */
  fencing(): boolean;
  /** False once fencing mode's lease has lapsed: no write, nor claim, may go out. */
  leaseValid(): boolean;
  /** Nothing held or lost and no fencing mode (single-process mode): no write is checked. */
  idle(): boolean;
}

export function createHeldEpochs(): HeldEpochs {
  const held = new Map<string, number | null>();
  let leaseValid: (() => boolean) | undefined;
  return {
    get: (id) => held.get(id),
    hold: (id, epoch) => void held.set(id, epoch),
    lose: (id) => void held.set(id, null),
    forget: (id) => void held.delete(id),
    fence(check) {
      leaseValid = check;
    },
    refusal(id) {
      const epoch = held.get(id);
      if (epoch === null) return sessionMoved(id, 'a later claim fenced this node out');
      if (leaseValid === undefined) return undefined;
      if (!leaseValid()) return sessionMoved(id, "this node's lease has lapsed");
      if (epoch === undefined) return sessionMoved(id, 'this node holds no claim on it');
      return undefined;
    },
    fencing: () => leaseValid !== undefined,
    leaseValid: () => leaseValid?.() ?? true,
    idle: () => held.size === 0 && leaseValid === undefined,
  };
}

/** The session is someone else's now (or may be): the client should reconnect. */
export function sessionMoved(sessionId: string, why: string): StoreError {
  return new StoreError(
    'session_moved',
    `session ${sessionId} is owned by another node now (${why}); reconnect to resume it`,
    { sessionId },
  );
}
