import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { SessionRuntime } from '../runtime/index.ts';
import type { ApprovalRecord, Store } from '../store/store.ts';
import { ForwardTimeout } from './bus-errors.ts';
import { createClusterNode } from './cluster-runtime.ts';
import type { BusReply } from './command-wire.ts';
import type { FollowerSet } from './follower-set.ts';
import type { Bus } from './nats-bus.ts';

const SESSION = 'ses_1';
const REQUEST = 'req_1';
const refused: BusReply = {
  ok: false,
  error: {
    code: 'approval_already_decided',
    message: `approval request ${REQUEST} is already approved`,
    status: 409,
  },
};

/**
 * A node whose every forward goes to `replies` in turn (an Error is thrown), on a session
 * another live node owns, whose approval the store holds as `approval`.
 */
function nodeWith(replies: (BusReply | Error)[], approval: Partial<ApprovalRecord>) {
  const sent: unknown[] = [];
  const store = {
    getOwnership: () => Promise.resolve({ owner_node: 'node-b', owner_epoch: 2 }),
    getApproval: () => Promise.resolve({ request_id: REQUEST, session_id: SESSION, ...approval }),
  } as unknown as Store;
  const bus = {
    forward: (_id: string, request: unknown) => {
      sent.push(request);
      const next = replies.shift();
      if (!next) throw new Error('no more replies');
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
  } as unknown as Bus;
  const node = createClusterNode({
    nodeId: 'node-a',
    store,
    liveness: {
      isDead: () => Promise.resolve(false),
      deadNodes: () => Promise.resolve([]),
      sessionsOf: () => Promise.resolve([]),
      leaseValid: () => true,
    },
    bus,
    followers: {} as FollowerSet,
    logger: pino({ level: 'silent' }),
    forwardTimeoutMs: 20,
  });
  const service = node.wrap({} as SessionRuntime);
  const approve = () =>
    service.send(SESSION, { type: 'approve', id: 'm1', request_id: REQUEST }, 'alice');
  return { approve, sent };
}

describe('a decision forwarded to an owner that died holding it', () => {
  it('counts as made when, sent again to the next owner, it finds itself already applied', async () => {
    const { approve, sent } = nodeWith([new ForwardTimeout(SESSION, 20), refused], {
      status: 'approved',
      decided_by: 'alice',
    });
    await expect(approve()).resolves.toBeUndefined();
    expect(sent).toHaveLength(2);
  });

  it('is refused when the request was decided by someone else, or the other way', async () => {
    const other = nodeWith([new ForwardTimeout(SESSION, 20), refused], {
      status: 'approved',
      decided_by: 'bob',
    });
    await expect(other.approve()).rejects.toMatchObject({ code: 'approval_already_decided' });
    const rejected = nodeWith([new ForwardTimeout(SESSION, 20), refused], {
      status: 'rejected',
      decided_by: 'alice',
    });
    await expect(rejected.approve()).rejects.toMatchObject({ code: 'approval_already_decided' });
  });

  it('is refused as a plain repeat when no forward of it timed out', async () => {
    const { approve } = nodeWith([refused], { status: 'approved', decided_by: 'alice' });
    await expect(approve()).rejects.toMatchObject({ code: 'approval_already_decided' });
  });
});
