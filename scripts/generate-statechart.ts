import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { sessionMachine } from '../machines/session.machine.ts';
import { STATECHART_DOC, renderStatechart } from './statechart-mermaid.ts';

/**
 * Writes docs/statechart.md from the session machine. With `--check`, writes nothing and exits
 * 1 when the committed file differs from a fresh generation.
 */
const target = fileURLToPath(new URL(`../${STATECHART_DOC}`, import.meta.url));
const fresh = renderStatechart(sessionMachine, 'machines/session.machine.ts');

if (process.argv.includes('--check')) {
  const committed = await readFile(target, 'utf8').catch(() => '');
  if (committed !== fresh) {
    process.stderr.write(
      `${STATECHART_DOC} is out of date: run npx tsx scripts/generate-statechart.ts\n`,
    );
    process.exit(1);
  }
} else {
  await writeFile(target, fresh);
  process.stdout.write(`wrote ${STATECHART_DOC}\n`);
}
