/**
 * What JSON allows but the audit log cannot hold, or the server should not walk: PostgreSQL's
 * json/jsonb refuse U+0000 and unpaired UTF-16 surrogates (`"\ud800"`), and nesting is bounded
 * so that no recursive code past the codec (zod, JSON.stringify, the store) can overflow.
 */

/** Objects and arrays may nest this deep in a message, the message object being level 1. */
export const MAX_NESTING = 32;

export type UnstorableKind = 'nul' | 'lone_surrogate' | 'too_deep';

export interface Unstorable {
  kind: UnstorableKind;
  /** Where: the keys and indexes from the message down to the offending value. */
  path: (string | number)[];
  /** True when an object key, not a value, holds the character. */
  inKey: boolean;
}

// With the `u` flag a surrogate pair is one code point, so only an unpaired half matches.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function textProblem(text: string): UnstorableKind | undefined {
  if (text.includes('\u0000')) return 'nul';
  if (LONE_SURROGATE.test(text)) return 'lone_surrogate';
  return undefined;
}

/**
 * The first unstorable thing in a parsed JSON value, or undefined. Iterative, and it stops at
 * the depth limit, so a value nested 100,000 deep costs no stack and little time.
 */
export function findUnstorable(value: unknown, maxNesting = MAX_NESTING): Unstorable | undefined {
  const stack: { value: unknown; path: (string | number)[]; level: number }[] = [
    { value, path: [], level: 0 },
  ];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value: current, path, level } = item;
    if (typeof current === 'string') {
      const kind = textProblem(current);
      if (kind) return { kind, path, inKey: false };
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    if (level + 1 > maxNesting) return { kind: 'too_deep', path, inKey: false };
    const entries: [string | number, unknown][] = Array.isArray(current)
      ? current.map((inner, index) => [index, inner])
      : Object.entries(current);
    for (const [key] of entries) {
      const kind = typeof key === 'string' ? textProblem(key) : undefined;
      if (kind) return { kind, path, inKey: true };
    }
    // Pushed in reverse so that the first problem in document order is the one reported.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, inner] = entries[i]!;
      stack.push({ value: inner, path: [...path, key], level: level + 1 });
    }
  }
  return undefined;
}

const REASONS: Record<UnstorableKind, string> = {
  nul: 'strings may not contain NUL (\\u0000) characters',
  lone_surrogate:
    'strings may not contain a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)',
  too_deep: `objects and arrays may nest at most ${MAX_NESTING} levels deep (the message is level 1)`,
};

/** `plan.0.args.text: strings may not contain ...`, the path cut short when it is long. */
export function describeUnstorable(problem: Unstorable): string {
  let where = problem.path.map((key) => String(key).slice(0, 64)).join('.') || '(root)';
  if (where.length > 200) where = `${where.slice(0, 200)}…`;
  return `${where}: ${problem.inKey ? 'a key: ' : ''}${REASONS[problem.kind]}`;
}

const LONE_SURROGATES = /[\uD800-\uDFFF]/gu;
const storableText = (text: string) =>
  text.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATES, '\uFFFD');

/**
 * What a tool or a model produced, made storable: every NUL and lone surrogate in strings and
 * keys becomes U+FFFD. Untouched (and not copied) when there is none, the usual case.
 */
export function toStorable<T>(value: T): T {
  return hasUnstorableText(value) ? (clean(value) as T) : value;
}

/** A walk without paths or copies: this runs on every event the session emits. */
function hasUnstorableText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current === 'string') {
      if (textProblem(current)) return true;
    } else if (Array.isArray(current)) {
      for (const inner of current) stack.push(inner);
    } else if (typeof current === 'object' && current !== null) {
      for (const [key, inner] of Object.entries(current)) {
        if (textProblem(key)) return true;
        stack.push(inner);
      }
    }
  }
  return false;
}

function clean(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(clean);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [storableText(key), clean(inner)]),
  );
}
