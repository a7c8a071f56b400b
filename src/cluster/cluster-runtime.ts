import type { Logger } from 'pino';
import { AppError, toWireError } from '../errors.ts';
import { eventFrame } from '../protocol/event-frame.ts';
import type { Command } from '../protocol/inbound.ts';
import {
  ballotOf,
  SessionElsewhere,
  type Placement,
  type SessionHost,
  type SessionRuntime,
  type SessionService,
  type SessionView,
} from '../runtime/index.ts';
import { BusUnavailable, ForwardTimeout, NoOwnerResponding } from './bus-errors.ts';
import type { Liveness } from './cluster-ports.ts';
import type { Store } from '../store/store.ts';
import type { BusReply, BusRequest, CommandRequest, SessionViewReply } from './command-wire.ts';
import type { FollowerSet } from './follower-set.ts';
import type { Bus } from './nats-bus.ts';
import { createRemoteSessions } from './remote-session.ts';

export interface ClusterNodeDeps {
  nodeId: string;
  store: Store;
  liveness: Liveness;
  bus: Bus;
  followers: FollowerSet;
  logger: Logger;
  /** How long a command forwarded to its owner may take before `owner_unreachable`. */
  forwardTimeoutMs?: number;
}

/** What a node counts, for /metrics and /readyz. */
export interface ClusterCounters {
  claims: number;
  forwarded: number;
  served: number;
  takeovers: number;
}

export interface ClusterNode {
  readonly nodeId: string;
  /** What the local runtime asks before it loads a session, and tells when hosts come and go. */
  readonly placement: Placement;
  /** The runtime the server uses: each session served by its owner, wherever a call lands. */
  wrap(local: SessionRuntime): SessionService;
  /** Claims the active sessions of nodes found dead; resolves with how many came here. */
  takeOver(): Promise<number>;
  /** This node's lease ran out: every host stops at once, writing nothing more. */
  fence(): void;
  owned(): number;
  counters(): ClusterCounters;
}

const RETRIES = 8;
/** The status a decision leaves its request in. */
const DECIDED_AS: Partial<Record<Command['type'], string>> = {
  approve: 'approved',
  reject: 'rejected',
  edit: 'edited',
};
/** Sessions of a dead node claimed and restored at once by a takeover. */
const TAKEOVER_LANES = 16;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A node of the cluster: PostgreSQL says who owns each session (a claim bumps its epoch, and
 * every write checks the epoch the writer holds); NATS carries commands to the owner and its
 * stored events to the sockets on other nodes. A session is placed where it is first used
 * while nobody (alive) owns it.
 */
export function createClusterNode(deps: ClusterNodeDeps): ClusterNode {
  const { nodeId, store, liveness, bus, followers, logger } = deps;
  const forwardTimeoutMs = deps.forwardTimeoutMs ?? 10_000;
  /** Sessions hosted here, with what undoes their NATS subscriptions. */
  const hosted = new Map<string, () => void>();
  const counters: ClusterCounters = { claims: 0, forwarded: 0, served: 0, takeovers: 0 };
  let local: SessionRuntime | undefined;
  /** Replies to commands by the sender's node and message id: a retried forward runs once. */
  const recent = new Map<string, Promise<BusReply>>();
  const remotes = createRemoteSessions(followers);

  const placement: Placement = {
    nodeId,
    async acquire(sessionId) {
      for (let attempt = 1; attempt <= RETRIES; attempt += 1) {
        const own = await store.getOwnership(sessionId);
        if (!own) return; // no such session: the runtime finds none
        if (own.owner_node !== null && own.owner_node !== nodeId) {
          if (!(await liveness.isDead(own.owner_node)))
            throw new SessionElsewhere(sessionId, own.owner_node);
        }
        const claim = await store.claimSession(sessionId, nodeId, own.owner_epoch);
        if (claim.ok) {
          counters.claims += 1;
          logger.debug({ sessionId, epoch: claim.epoch }, 'claimed session');
          return;
        }
      }
      throw new AppError('session_busy', `session ${sessionId} is being claimed elsewhere`, 503, {
        retry_after_ms: 100,
      });
    },
    hosted(host) {
      hosted.get(host.id)?.();
      hosted.set(host.id, serve(host));
    },
    released(sessionId, why) {
      hosted.get(sessionId)?.();
      hosted.delete(sessionId);
      if (why === 'moved') store.releaseSession(sessionId);
      if (why === 'passivated') {
        store.disownSession(sessionId, nodeId).catch((error: unknown) => {
          logger.warn({ err: error, sessionId }, 'passivated session not given up');
        });
      }
    },
  };

  /** Serves a hosted session: its commands from other nodes, its stored events to them. */
  function serve(host: SessionHost): () => void {
    const id = host.id;
    const serving = bus.serveCommands(id, (request) => answer(id, request));
    serving.catch((error: unknown) =>
      logger.error({ err: error, sessionId: id }, 'commands of a session not served'),
    );
    const unserve = () => void serving.then((off) => off()).catch(() => undefined);
    let stopped = false;
    let unsubscribe: (() => void) | undefined;
    host
      .subscribe(host.lastSeq(), (event) => bus.publishEvent(id, eventFrame(event)))
      .then((off) => (stopped ? off() : (unsubscribe = off)))
      .catch((error: unknown) => logger.error({ err: error, sessionId: id }, 'publisher failed'));
    const offDelta = host.onDelta((delta) => bus.publishDelta(id, JSON.stringify(delta)));
    return () => {
      stopped = true;
      unserve();
      unsubscribe?.();
      offDelta();
    };
  }

  /** The owner's side of a request from another node. */
  function answer(sessionId: string, request: BusRequest): Promise<BusReply> {
    const runtime = local;
    if (!runtime || !hosted.has(sessionId)) return Promise.resolve(moved(sessionId));
    if ('view' in request) return viewOf(runtime, sessionId, request.view);
    const key = request.command.id === undefined ? null : `${request.origin}:${request.command.id}`;
    const seen = key ? recent.get(key) : undefined;
    if (seen) return seen;
    counters.served += 1;
    const reply = runtime
      .send(sessionId, request.command, request.by, request.roles)
      .then((): BusReply => ({ ok: true }))
      .catch((error: unknown): BusReply => {
        if (error instanceof SessionElsewhere) return moved(sessionId);
        const wire = toWireError(error);
        return {
          ok: false,
          error: {
            code: wire.code,
            message: wire.message,
            status: wire.status,
            ...(wire.retryAfterMs === undefined ? {} : { retry_after_ms: wire.retryAfterMs }),
          },
        };
      });
    if (key) {
      recent.set(key, reply);
      setTimeout(() => recent.delete(key), 60_000).unref();
    }
    return reply;
  }

  async function viewOf(
    runtime: SessionRuntime,
    sessionId: string,
    voter: { user_id: string; roles: string[] },
  ): Promise<BusReply> {
    const session = await runtime.getSession(sessionId);
    if (!session) return moved(sessionId);
    const pending = session.pendingApprovals();
    // The live ballots straight from the actor: no approval row is read for them.
    const ballots: SessionViewReply['ballots'] = {};
    for (const { request_id } of pending) {
      const ballot = ballotOf(session, request_id, voter);
      if (ballot) ballots[request_id] = ballot;
    }
    return {
      ok: true,
      view: {
        owner: session.owner,
        state: session.state(),
        last_seq: session.lastSeq(),
        pending_approvals: pending,
        ballots,
      },
    };
  }

  function moved(sessionId: string): BusReply {
    const message = `session ${sessionId} is not served by node ${nodeId}`;
    return { ok: false, error: { code: 'session_moved', message, status: 503 } };
  }

  /** Whether this node may place the session here now: nobody alive owns it. */
  async function placeable(sessionId: string): Promise<'here' | 'none' | { owner: string }> {
    if (hosted.has(sessionId)) return 'here';
    const own = await store.getOwnership(sessionId);
    if (!own) return 'none';
    if (own.owner_node === null || own.owner_node === nodeId) return 'here';
    return (await liveness.isDead(own.owner_node)) ? 'here' : { owner: own.owner_node };
  }

  /** As placeable, for a session that must exist: `session_not_found` when it does not. */
  async function placeableOrGone(sessionId: string): Promise<'here' | { owner: string }> {
    const where = await placeable(sessionId);
    if (where === 'none') throw new AppError('session_not_found', `no session ${sessionId}`, 404);
    return where;
  }

  /**
   * After an owner did not answer: whether it is dead (its lock free, or its heartbeat a
   * lease old) within one more lease. A frozen owner is; a merely slow one is not.
   */
  async function diesWithin(owner: string, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (await liveness.isDead(owner)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(100);
    }
  }

  /**
   * Sends a request to the session's owner; null when it should be placed here instead. The
   * request goes out first and the database is asked only when nobody answers it: a session
   * served elsewhere costs no query here.
   */
  async function toOwner(sessionId: string, request: BusRequest): Promise<BusReply | null> {
    /** The live owner found after the last timed-out forward. */
    let slowOwner: string | null = null;
    /** Sent again after a forward timed out: the first may have been applied. */
    let resent = false;
    for (let attempt = 1; attempt <= RETRIES; attempt += 1) {
      if (hosted.has(sessionId)) return null;
      try {
        const reply = await bus.forward(sessionId, request, forwardTimeoutMs);
        if (resent && 'command' in request && (await decidedBefore(request, reply))) {
          return { ok: true };
        }
        if (reply.ok || reply.error.code !== 'session_moved') return reply;
        await sleep(10 * attempt); // the node that answered has just let it go: look again
      } catch (error) {
        if (error instanceof NoOwnerResponding || error instanceof BusUnavailable) {
          // Nobody serves it: nobody alive owns it (place it here), or its owner is loading it
          // or has just let it go (look again shortly).
          const where = await placeableOrGone(sessionId);
          if (where === 'here') return null;
          if (error instanceof BusUnavailable) {
            throw new AppError(
              'cluster_unavailable',
              `NATS is unreachable: the command cannot reach the node that owns session ${sessionId}; retry`,
              503,
              { retry_after_ms: 1_000 },
            );
          }
          await sleep(10 * attempt);
          continue;
        }
        // Frozen or partitioned: once its lease is out, the session is placed here instead.
        // Killed while it held the request: another node owns it by now, so send it there.
        // The same live owner timing out twice is slow or frozen: wait up to a lease for it.
        if (error instanceof ForwardTimeout) {
          const where = await placeableOrGone(sessionId);
          if (where === 'here') continue;
          resent = true;
          const again = where.owner === slowOwner;
          slowOwner = where.owner;
          const wait = again ? forwardTimeoutMs : Math.min(forwardTimeoutMs, 1_000);
          if ((await diesWithin(where.owner, wait)) || !again) continue;
          throw new AppError(
            'owner_unreachable',
            `the node that owns session ${sessionId} did not answer within ${forwardTimeoutMs} ms; retry`,
            503,
            { retry_after_ms: 1_000 },
          );
        }
        throw error;
      }
    }
    throw new AppError(
      'owner_unreachable',
      `the node that owns session ${sessionId} is not serving it; retry`,
      503,
      { retry_after_ms: 250 },
    );
  }

  /**
   * A decision sent again after its forward timed out (its owner died holding it), refused as
   * already decided, that the same user made the same way: its first send was applied, and
   * that is its answer.
   */
  async function decidedBefore(request: CommandRequest, reply: BusReply): Promise<boolean> {
    const { command } = request;
    const status = DECIDED_AS[command.type];
    if (reply.ok || reply.error.code !== 'approval_already_decided' || !status) return false;
    if (!('request_id' in command)) return false;
    const approval = await store.getApproval(command.request_id);
    return approval?.status === status && approval.decided_by === request.by;
  }

  function thrown(reply: Extract<BusReply, { ok: false }>): AppError {
    const { code, message, status, retry_after_ms } = reply.error;
    return new AppError(
      code,
      message,
      status,
      retry_after_ms === undefined ? undefined : { retry_after_ms },
    );
  }

  async function remote(
    sessionId: string,
    voter: { user_id: string; roles: string[] },
  ): Promise<{ view: SessionView; reply: SessionViewReply } | 'here' | undefined> {
    const reply = await toOwner(sessionId, { view: voter, origin: nodeId });
    if (reply === null) return 'here';
    if (!reply.ok) throw thrown(reply);
    if (!reply.view) return undefined;
    return { view: await remotes.view(sessionId, reply.view), reply: reply.view };
  }

  function wrap(runtime: SessionRuntime): SessionService {
    local = runtime;
    const anonymous = { user_id: '', roles: [] as string[] };

    async function getSession(id: string): Promise<SessionView | undefined> {
      for (let attempt = 1; attempt <= RETRIES; attempt += 1) {
        if (!hosted.has(id)) {
          const found = await remote(id, anonymous);
          if (found !== 'here') return found?.view;
        }
        try {
          return await runtime.getSession(id);
        } catch (error) {
          if (!(error instanceof SessionElsewhere)) throw error;
          // another node placed it first
        }
      }
      throw new AppError('session_busy', `session ${id} is moving between nodes; retry`, 503, {
        retry_after_ms: 250,
      });
    }

    async function send(
      id: string,
      command: Command,
      by: string,
      roles: readonly string[] = [],
    ): Promise<void> {
      for (let attempt = 1; attempt <= RETRIES; attempt += 1) {
        const request: BusRequest = {
          command,
          by,
          roles: [...roles],
          origin: nodeId,
        };
        const reply = await toOwner(id, request);
        if (reply === null) {
          try {
            return await runtime.send(id, command, by, roles);
          } catch (error) {
            if (error instanceof SessionElsewhere) continue;
            throw error;
          }
        }
        counters.forwarded += 1;
        if (reply.ok) return;
        throw thrown(reply);
      }
      throw new AppError('session_busy', `session ${id} is moving between nodes; retry`, 503, {
        retry_after_ms: 250,
      });
    }

    return {
      ...runtime,
      getSession,
      send,
      async ballots(approvals, voter) {
        const out = [];
        for (const approval of approvals) {
          if (approval.status !== 'pending' || hosted.has(approval.session_id)) {
            out.push(...(await runtime.ballots([approval], voter)));
            continue;
          }
          const found = await remote(approval.session_id, {
            user_id: voter.user_id,
            roles: [...voter.roles],
          }).catch(() => undefined);
          if (found === 'here' || found === undefined) {
            out.push(...(await runtime.ballots([approval], voter)));
            continue;
          }
          const ballot = found.reply.ballots[approval.request_id];
          out.push(ballot ? { ...approval, ...ballot } : approval);
        }
        return out;
      },
      async getSessionOwner(id) {
        return (await store.getSession(id))?.owner;
      },
      async restoreActive() {
        // A node restarted under the same id still owns its active sessions: it takes them
        // back at once, as it would a dead node's.
        return takeOver([nodeId]);
      },
    };
  }

  async function takeOver(alsoOf: readonly string[] = []): Promise<number> {
    const runtime = local;
    if (!runtime) return 0;
    let taken = 0;
    for (const dead of [...alsoOf, ...(await liveness.deadNodes())]) {
      const ids = await liveness.sessionsOf(dead, { activeOnly: true });
      // Several at a time: each is a claim and a restore, a few round trips; one after another,
      // a node's hundred sessions would wait seconds for the last.
      let next = 0;
      const lane = async () => {
        while (next < ids.length) {
          const sessionId = ids[next++]!;
          try {
            if (await runtime.getSession(sessionId)) taken += 1;
          } catch (error) {
            if (!(error instanceof SessionElsewhere))
              logger.warn({ err: error, sessionId, dead }, 'session of a dead node not taken over');
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(TAKEOVER_LANES, ids.length) }, lane));
    }
    if (taken > 0) {
      counters.takeovers += taken;
      logger.info({ taken }, 'took over the active sessions of dead nodes');
    }
    return taken;
  }

  return {
    nodeId,
    placement,
    wrap,
    takeOver,
    fence() {
      const runtime = local;
      if (!runtime) return;
      const ids = runtime.hosted();
      if (ids.length > 0)
        logger.error({ sessions: ids.length }, 'lease lost: stopping every session');
      for (const id of ids) runtime.release(id);
    },
    owned: () => hosted.size,
    counters: () => ({ ...counters }),
  };
}
