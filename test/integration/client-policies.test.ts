import { describe, expect, it } from 'vitest';
import {
  connectSession,
  listApprovals,
  SessionClientError,
  type SessionClient,
} from '../../src/client/index.ts';
import { testTargets } from '../support/targets.ts';
import { createSession, signToken } from '../support/test-app.ts';
import { useTestApp } from './harness.ts';

/** The SDK under the four-eyes policy: a counted vote answers `vote`, the inbox says who may vote. */

const FOUR_EYES = { tool: 'transfer', args: { to: 'carol', amount: 20_000, currency: 'USD' } };

describe.each(testTargets())('client SDK under approval policies on $name', (target) => {
  const h = useTestApp(target);

  it('vote resolves with the counted vote, listApprovals shows it, the second approver decides', async () => {
    const tokens = {
      ann: await signToken('ann', { roles: ['approver'] }),
      bob: await signToken('bob', { roles: ['approver'] }),
      cara: await signToken('cara', { roles: ['approver'] }),
    };
    const sessionId = await createSession(h.app, tokens.ann);
    const clients: SessionClient[] = [];
    const as = async (user: keyof typeof tokens) => {
      const client = await connectSession({ url: h.app.url, sessionId, token: tokens[user] });
      clients.push(client);
      return client;
    };
    const ann = await as('ann');
    const required = ann.waitFor('approval_required');
    await ann.execute('pay carol', [FOUR_EYES]);
    const requestId = (await required).data.request_id;

    const own = await ann.vote({ type: 'approve', request_id: requestId }).catch((e: unknown) => e);
    expect(own).toBeInstanceOf(SessionClientError);
    expect((own as SessionClientError).code).toBe('approver_not_allowed');

    const bob = await as('bob');
    const counted = await bob.vote({ type: 'approve', request_id: requestId });
    expect(counted.type).toBe('approval_vote');
    expect(counted.data).toMatchObject({ decided_by: 'bob', votes_so_far: 1, needed: 2 });

    const inbox = await listApprovals({ url: h.app.url, token: tokens.cara, status: 'pending' });
    expect(inbox.find((a) => a.request_id === requestId)).toMatchObject({
      votes: [{ by: 'bob', vote: 'approve' }],
      votes_so_far: 1,
      needed: 2,
      may_vote: true,
      policy: { quorum: 2, exclude_requester: true },
    });
    const mine = await listApprovals({ url: h.app.url, token: tokens.bob, status: 'pending' });
    expect(mine.find((a) => a.request_id === requestId)).toMatchObject({
      may_vote: false,
      refusal: 'already_voted',
    });

    const cara = await as('cara');
    const approved = await cara.approve(requestId);
    expect(approved.data.decided_by).toEqual(['bob', 'cara']);
    await ann.waitFor('complete', undefined, { since: approved.seq });
    for (const client of clients) await client.close();
  });

  it('listApprovals answers a bad token with the server code', async () => {
    const refused = await listApprovals({ url: h.app.url, token: 'not.a.jwt' }).catch(
      (e: unknown) => e,
    );
    expect(refused).toMatchObject({ code: 'token_invalid', status: 401 });
  });
});
