/** What a reply must never show a client: stacks, SQL, server file paths. */
const LEAK_PATTERNS: readonly (readonly [string, RegExp])[] = [
  [
    'stack trace',
    /\bat [^\s()]+ \([^)]*:\d+:\d+\)|\bat (?:file:\/\/|node:|\/)\S*:\d+:\d+|\\n\s+at \S/,
  ],
  [
    'sql',
    /\bSELECT\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b|syntax error at or near|\bFROM "?\w+"? WHERE\b/,
  ],
  ['file path', /\/src\/|node_modules|\.ts:\d+/],
];

/** The kind of leak `text` shows, or undefined. Fuzzed input never contains these words. */
export function findLeak(text: string): string | undefined {
  for (const [kind, pattern] of LEAK_PATTERNS) if (pattern.test(text)) return kind;
  return undefined;
}
