import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore, testBackends, type TestStore } from '../../test/support/stores.ts';
import { createLogger } from '../logger.ts';
import type { OutboundEvent } from '../protocol/outbound.ts';

/** User content that a failing write carries: it must never reach the log. */
const SECRET = 'card 4111-1111-1111-1111 of alice';
/** A lone surrogate: valid in a JS string, refused by jsonb. */
const LONE = '\ud800';

/** The log lines a pino logger writes, as the server's root logger writes them. */
function captureLog() {
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
  return { logger, text: () => lines.join('') };
}

const event = (sessionId: string, text: string): OutboundEvent => ({
  type: 'tool_result',
  session_id: sessionId,
  seq: 1,
  timestamp: new Date().toISOString(),
  state: 'thinking',
  data: { call_id: 'call-1', tool: 'echo', result: { text } },
});

const approval = (requestId: string, args: Record<string, unknown>, status = 'pending') => ({
  request_id: requestId,
  session_id: 's-log',
  execution_id: 'exe-1',
  call_id: `call-${requestId}`,
  tool: 'transfer',
  args: { ...args, amount: 250 },
  edited_args: null,
  reason: 'over the limit',
  status: status as 'pending',
  decided_by: null,
  decided_at: null,
  decision_reason: null,
  expires_at: new Date().toISOString(),
  created_at: new Date().toISOString(),
  subagent_id: null,
});

// Issue "Hardening": a failing write logged the raw driver error at error level, carrying
// the SQL, its parameters (user content) and PostgreSQL's `where`/`detail` with the values.
describe.each(testBackends())('a failing write on %s', (backend) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(backend);
    await t.store.createSession({ id: 's-log', owner: 'alice', state: 'idle', machine_version: 1 });
  });
  afterAll(() => t?.dispose());

  const failures: [string, (t: TestStore) => Promise<unknown>, string, string][] = [
    [
      'events with a lone surrogate in their data',
      ({ store }) => store.appendEvents([event('s-log', `${SECRET} ${LONE}`)]),
      '22P02',
      's-log',
    ],
    [
      'an approval with a lone surrogate in its args',
      ({ store }) => store.createApproval(approval('req-1', { to: `${SECRET} ${LONE}` })),
      '22P02',
      's-log',
    ],
    [
      'an approval breaking a check constraint (its row is in the detail)',
      ({ store }) => store.createApproval(approval('req-2', { to: SECRET }, 'bogus')),
      '23514',
      's-log',
    ],
  ];

  it.each(failures)('logs %s with its code and session, no SQL, no values', async (...c) => {
    const [, write, sqlState, sessionId] = c;
    const { logger, text } = captureLog();
    const error = await write(t).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    // The runtime's own habit: `log.error({ err }, ...)` on a write that did not happen.
    logger.error({ err: error, sessionId }, 'events not stored; the session will be restored');
    const line = JSON.parse(text()) as { err: Record<string, unknown> };

    expect(line.err).toMatchObject({ code: 'store_query_failed', sqlState, sessionId });
    if (sqlState === '23514') {
      expect(line.err).toMatchObject({ table: 'approvals', constraint: 'approvals_status_check' });
    }
    const logged = text();
    for (const leak of [SECRET, 'card 4111', '\\ud800', 'alice', 'amount']) {
      expect(logged).not.toContain(leak);
    }
    for (const sql of [/\bINSERT\b/i, /\bSELECT\b/i, /\$1/, /jsonb_to_recordset/i, /\bVALUES\b/]) {
      expect(logged).not.toMatch(sql);
    }
    for (const key of ['query', 'params', 'parameters', 'args', 'detail', 'where', 'types']) {
      expect(Object.keys(line.err)).not.toContain(key);
    }
  });
});
