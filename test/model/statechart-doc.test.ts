import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { sessionMachine } from '../../machines/session.machine.ts';
import { machineStates, machineTransitions } from '../../src/runtime/statechart-graph.ts';
import {
  GENERATE_COMMAND,
  STATECHART_DOC,
  renderStatechart,
} from '../../scripts/statechart-mermaid.ts';

const fresh = renderStatechart(sessionMachine, 'machines/session.machine.ts');
const diagram = fresh.split('```mermaid\n')[1]?.split('```')[0] ?? '';

describe(STATECHART_DOC, () => {
  it('is what the machine generates now', async () => {
    const committed = await readFile(new URL(`../../${STATECHART_DOC}`, import.meta.url), 'utf8');
    expect(committed, `${STATECHART_DOC} is out of date: run ${GENERATE_COMMAND}`).toBe(fresh);
  });

  it('draws every transition and names every state of the machine', () => {
    const edges = diagram
      .split('\n')
      .filter((line) => line.includes('-->') && !line.includes('[*]'));
    expect(edges).toHaveLength(machineTransitions(sessionMachine).length);
    for (const state of machineStates(sessionMachine)) {
      expect(diagram).toMatch(new RegExp(`\\b${state.path.replaceAll('.', '_')}\\b`));
    }
  });
});
