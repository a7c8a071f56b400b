/**
 * Where the time went in a V8 .cpuprofile (from `node --cpu-prof`): self time by area (a
 * package, a src/ folder, the GC, idle) and the hottest functions.
 *
 *   npx tsx bench/profile-summary.ts .bench-profiles/<dir>/<file>.cpuprofile
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The area a function belongs to: an npm package, a folder of this repo, or V8 itself. */
export function areaOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const local = /\/(src\/[^/]+|machines|bench)\//.exec(url);
  if (local) return local[1]!;
  return url.split('/').slice(-2).join('/');
}

export async function summarizeProfile(file: string, top = 25): Promise<string> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const area = areaOf(frame.url, frame.functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const where = frame.url
      ? `${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`
      : '';
    const key = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    functions.set(key, (functions.get(key) ?? 0) + us);
  }
  // Inclusive: a sample counts for every area on its stack (so the shares add up past 100%).
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame && frame.url) seen.add(areaOf(frame.url, frame.functionName));
    }
    for (const area of seen) inclusive.set(area, (inclusive.get(area) ?? 0) + us);
  }
  const share = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const busy = total - (areas.get('(idle)') ?? 0);
  const lines = [
    `total ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy`,
    'self time by area:',
  ];
  for (const [area, us] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, 20)) {
    lines.push(`  ${share(us)}  ${area}`);
  }
  lines.push('time with the area on the stack (inclusive):');
  for (const [area, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    lines.push(`  ${share(us)}  ${area}`);
  }
  lines.push('hottest functions (self time):');
  for (const [fn, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${share(us)}  ${fn}`);
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: npx tsx bench/profile-summary.ts <file.cpuprofile>');
    process.exit(1);
  }
  console.log(await summarizeProfile(file, Number(process.argv[3] ?? 25)));
}
