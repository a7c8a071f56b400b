import { describe, expect, it } from 'vitest';
import { canAccess, canRun, type Principal } from './principal.ts';

const alice: Principal = { user_id: 'alice', roles: [] };
const bob: Principal = { user_id: 'bob', roles: [] };
const carol: Principal = { user_id: 'carol', roles: ['approver'] };

describe('who may see, decide and run a session of alice', () => {
  it('lets the owner and an approver see it and decide its approvals, nobody else', () => {
    expect([alice, bob, carol].map((p) => canAccess(p, 'alice'))).toEqual([true, false, true]);
  });

  it('lets only the owner execute or cancel in it, not an approver', () => {
    expect([alice, bob, carol].map((p) => canRun(p, 'alice'))).toEqual([true, false, false]);
  });
});
