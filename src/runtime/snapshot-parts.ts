import type { SnapshotPart } from '../store/store.ts';

/**
 * The parts of a session's snapshot that only grow during an execution, its plan and its
 * history, are stored once, as rows of their own, instead of again in every snapshot: a
 * stored snapshot then costs the same at the thousandth step as at the first. In the stored
 * snapshot each of them is a marker naming its part; restoring puts the rows back.
 *
 * Whatever holds an `execution_id` with a `history` array (a session's or a subagent's
 * context, a planner's input) is split this way, wherever it sits in the snapshot's tree.
 */

interface PartMarker {
  $part: string;
  /** History entries stored (the marker stands for the first `count` rows of its part). */
  count?: number;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function holdsHistory(value: Json): value is Json & { execution_id: string; history: unknown[] } {
  return typeof value.execution_id === 'string' && Array.isArray(value.history);
}

function isMarker(value: unknown): value is PartMarker {
  return isObject(value) && typeof value.$part === 'string';
}

const historyPart = (executionId: string) => `${executionId}:history`;
const planPart = (executionId: string) => `${executionId}:plan`;

/** What a session has stored of each part so far: rows already written are not written again. */
export interface PartLedger {
  /** Rows stored of each part. */
  readonly written: Map<string, number>;
}

/** A ledger of what `snapshot` (as restored, or as first started) already holds in storage. */
export function ledgerOf(snapshot: unknown): PartLedger {
  const written = new Map<string, number>();
  visit(snapshot, (holder) => {
    const history = historyPart(holder.execution_id);
    written.set(history, Math.max(written.get(history) ?? 0, holder.history.length));
    if (Array.isArray(holder.plan)) written.set(planPart(holder.execution_id), 1);
  });
  return { written };
}

/**
 * The snapshot to store, and the part rows it needs that are not stored yet (then counted as
 * stored in the ledger: a write that fails breaks the session, which restores from storage).
 */
export function splitSnapshot(
  sessionId: string,
  snapshot: unknown,
  ledger: PartLedger,
): { snapshot: unknown; parts: SnapshotPart[] } {
  const parts: SnapshotPart[] = [];
  const slim = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(slim);
    if (!isObject(value)) return value;
    const out: Json = {};
    const holder = holdsHistory(value);
    for (const [key, field] of Object.entries(value)) {
      if (!holder || (key !== 'history' && key !== 'plan')) out[key] = slim(field);
    }
    if (!holdsHistory(value)) return out;
    out.plan = value.plan;
    const history = historyPart(value.execution_id);
    const stored = ledger.written.get(history) ?? 0;
    value.history.slice(stored).forEach((entry, i) => {
      parts.push({ session_id: sessionId, part: history, idx: stored + i, value: entry });
    });
    ledger.written.set(history, Math.max(stored, value.history.length));
    out.history = { $part: history, count: value.history.length } satisfies PartMarker;
    if (Array.isArray(value.plan)) {
      const plan = planPart(value.execution_id);
      if (!ledger.written.has(plan)) {
        parts.push({ session_id: sessionId, part: plan, idx: 0, value: value.plan });
        ledger.written.set(plan, 1);
      }
      out.plan = { $part: plan } satisfies PartMarker;
    }
    return out;
  };
  return { snapshot: slim(snapshot), parts };
}

/** The part names a stored snapshot refers to. */
export function partsNamed(snapshot: unknown): string[] {
  const names = new Set<string>();
  const walk = (value: unknown): void => {
    if (isMarker(value)) names.add(value.$part);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (isObject(value)) Object.values(value).forEach(walk);
  };
  walk(snapshot);
  return [...names];
}

/** A stored snapshot with its markers replaced by the rows they stand for. */
export function joinSnapshot(snapshot: unknown, parts: readonly SnapshotPart[]): unknown {
  const rows = new Map<string, unknown[]>();
  for (const part of parts) {
    const list = rows.get(part.part) ?? [];
    list[part.idx] = part.value;
    rows.set(part.part, list);
  }
  const join = (value: unknown): unknown => {
    if (isMarker(value)) {
      const list = rows.get(value.$part) ?? [];
      if (value.count === undefined) return list[0] ?? null;
      const entries: unknown[] = [];
      for (let i = 0; i < value.count; i += 1) {
        if (!(i in list)) {
          throw new Error(`snapshot part ${value.$part} has fewer rows than the snapshot names`);
        }
        entries.push(list[i]);
      }
      return entries;
    }
    if (Array.isArray(value)) return value.map(join);
    if (!isObject(value)) return value;
    const out: Json = {};
    for (const [key, field] of Object.entries(value)) out[key] = join(field);
    return out;
  };
  return join(snapshot);
}

/** Calls fn on every history holder in the tree (not looking inside histories and plans). */
function visit(
  value: unknown,
  fn: (holder: Json & { execution_id: string; history: unknown[] }) => void,
): void {
  if (Array.isArray(value)) value.forEach((v) => visit(v, fn));
  else if (isObject(value)) {
    const holder = holdsHistory(value);
    if (holder) fn(value);
    for (const [key, field] of Object.entries(value)) {
      if (!holder || (key !== 'history' && key !== 'plan')) visit(field, fn);
    }
  }
}
