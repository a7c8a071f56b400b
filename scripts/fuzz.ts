import { parseArgs } from 'node:util';
import { runFuzz } from './fuzz-run.ts';
import { startServerProcess, type ServerProcess } from './fuzz-server.ts';
import { summary, type Finding } from './fuzz-stats.ts';

/**
 * `npm run fuzz [-- --frames N --seed S --url http://host:port]`: throws malformed, oversized
 * and hostile frames at a real server and exits 1 on a crash, a leak, an internal_error or a
 * broken happy path afterwards. Without `--url` it starts `src/main.ts` as a child process.
 */
const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    url: { type: 'string' },
    sessions: { type: 'string', default: '4' },
  },
});
const frames = Number(values.frames);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isInteger(frames) || frames < 1 || !Number.isInteger(seed)) {
  console.error('usage: npm run fuzz -- [--frames N] [--seed S] [--url http://host:port]');
  process.exit(2);
}

let server: ServerProcess | undefined;
if (values.url === undefined) server = await startServerProcess(process.cwd());
const baseUrl = values.url ?? server!.url;
console.log(
  `fuzzing ${baseUrl} with ${frames} frames, seed ${seed} (replay: npm run fuzz -- --seed ${seed} --frames ${frames})`,
);
const { stats, seconds } = await runFuzz({
  baseUrl,
  frames,
  seed,
  sessions: Number(values.sessions),
  ...(server ? { exited: server.exited } : {}),
});
const stopAt = Date.now();
await server?.stop();
console.log(summary(stats, seconds));
if (server && server.errorLogs.length > 0) {
  console.log(
    `server error-level log lines: ${server.errorLogs.length} (first five; each is looked into, not a finding by itself):`,
  );
  for (const line of server.errorLogs.slice(0, 5)) {
    console.log(`  ${line.slice(0, 1200)}`);
    const time = Number(/"time":(\d+)/.exec(line)?.[1] ?? NaN);
    console.log(
      `    logged ${time - stopAt} ms after SIGTERM was sent to the server (negative: before)`,
    );
    const log = JSON.parse(line) as {
      time?: number;
      sessionId?: string;
    };
    const near = stats.sent.filter(
      (s) =>
        s.sessionId === log.sessionId &&
        Math.abs(s.at - (log.time ?? 0)) < 1000 &&
        s.frame.includes('request_id'),
    );
    console.log(
      `    decisions sent to ${log.sessionId ?? '?'} within 1 s of it: ${near.length}; the last five before it:`,
    );
    for (const s of near.filter((s) => s.at <= (log.time ?? 0)).slice(-5))
      console.log(`      ${s.frame}`);
  }
}
// Findings grouped by what they say (ids, seqs and times masked); three examples of each.
const groups = new Map<string, Finding[]>();
for (const finding of stats.findings) {
  const masked = finding.detail.replace(
    /"(session_id|seq|timestamp|id|state)":("[^"]*"|\d+),?/g,
    '',
  );
  const key = `${finding.kind}: ${masked.slice(0, 160)}`;
  groups.set(key, [...(groups.get(key) ?? []), finding]);
}
for (const [key, findings] of groups) {
  console.log(`FINDING ×${findings.length} ${key}`);
  for (const finding of findings.slice(0, 3))
    console.log(`  ${finding.detail.slice(0, 400)}\n    frame: ${finding.frame ?? '(none)'}`);
}
console.log(
  stats.findings.length === 0
    ? 'OK: no crash, no leak, no internal_error; the final flow completed'
    : `FAILED: ${stats.findings.length} finding(s)`,
);
process.exit(stats.findings.length === 0 ? 0 : 1);
