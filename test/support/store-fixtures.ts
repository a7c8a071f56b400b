import { randomUUID } from 'node:crypto';
import type { OutboundEvent } from '../../src/protocol/outbound.ts';
import type { SqlParam, SqlRow } from '../../src/store/sql-executor.ts';
import type { ApprovalRecord, Store } from '../../src/store/store.ts';

/** One backend under the contract: how to open a store on it, and (SQL) raw access. */
export interface Backend {
  open: () => Promise<Store>;
  /** Opens a store that counts the statements writing events (SQL backends). */
  openCounting?: () => Promise<{
    store: Store;
    eventWrites: () => number;
    statements: () => number;
  }>;
  raw?: (text: string, params?: SqlParam[]) => Promise<SqlRow[]>;
  teardown?: () => Promise<void>;
}

export const uid = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

export function thinking(sessionId: string, seq: number): OutboundEvent {
  return {
    type: 'thinking',
    session_id: sessionId,
    seq,
    // Finer than timestamptz keeps: it must come back as the very same text.
    timestamp: `2025-01-01T00:00:${String(seq % 60).padStart(2, '0')}.123456Z`,
    state: 'thinking',
    execution_id: 'exec-1',
    data: { execution_id: 'exec-1', command: `step ${seq}`, plan_steps: null },
  };
}

export function toolResult(sessionId: string, seq: number): OutboundEvent {
  return {
    type: 'tool_result',
    session_id: sessionId,
    seq,
    timestamp: '2025-01-01T00:00:00Z',
    state: 'executing',
    data: {
      call_id: 'call-1',
      tool: 'search',
      result: { z: 1, a: [1.5, 'é', { y: null, b: true }], big: 12345678901234, e: 1e-7 },
    },
  };
}

export function approval(sessionId: string, overrides: Partial<ApprovalRecord> = {}) {
  return {
    request_id: uid('req'),
    session_id: sessionId,
    execution_id: 'exec-1',
    call_id: uid('call'),
    tool: 'transfer',
    args: { to: 'acct-9', amount: 250 },
    edited_args: null,
    reason: 'moves money',
    status: 'pending',
    decided_by: null,
    decided_at: null,
    decision_reason: null,
    expires_at: '2030-01-01T00:15:00.000Z',
    created_at: '2030-01-01T00:00:00.000Z',
    subagent_id: null,
    ...overrides,
  } satisfies ApprovalRecord;
}
