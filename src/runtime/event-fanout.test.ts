import { describe, expect, it } from 'vitest';
import type { OutboundEvent } from '../protocol/outbound.ts';
import { createMemoryStore } from '../store/memory-store.ts';
import { createEventFanout } from './event-fanout.ts';

const SESSION = 'ses_1';

function event(seq: number): OutboundEvent {
  return {
    type: 'thinking',
    session_id: SESSION,
    seq,
    timestamp: new Date(0).toISOString(),
    state: 'thinking',
    data: { execution_id: 'exec_1', command: 'c', plan_steps: null },
  };
}

describe('event fan-out replay', () => {
  // Found by test/durability: a socket that reconnected while events were stored but not yet
  // published got those events twice, once from the replay and once from the broadcast.
  it('replays only published events; stored-but-unpublished ones come live, once', async () => {
    const store = createMemoryStore();
    await store.appendEvents([event(1), event(2), event(3)]);
    const fanout = createEventFanout(SESSION, store, 1);
    const broadcast: number[] = [];
    await fanout.subscribe(1, (e) => broadcast.push(e.seq));

    // A socket as ws-route runs it: the replay through its own listener, then the broadcast.
    const received: number[] = [];
    let live = false;
    await fanout.subscribe(
      0,
      (e) => {
        if (!live) received.push(e.seq);
      },
      () => (live = true),
    );
    fanout.publish(event(2));
    fanout.publish(event(3));
    received.push(...broadcast);
    expect(received).toEqual([1, 2, 3]);
  });

  it('delivers what is published during the replay after it, in order, without a gap', async () => {
    const store = createMemoryStore();
    await store.appendEvents([event(1), event(2)]);
    const fanout = createEventFanout(SESSION, store, 2);
    const received: number[] = [];
    const subscribed = fanout.subscribe(0, (e) => received.push(e.seq));
    await store.appendEvents([event(3)]);
    fanout.publish(event(3));
    await subscribed;
    fanout.publish(event(4));
    expect(received).toEqual([1, 2, 3, 4]);
  });
});
