import type { AnyStateMachine } from 'xstate';
import {
  machineStates,
  machineTransitions,
  type StatechartState,
  type StatechartTransition,
} from '../src/runtime/statechart-graph.ts';

/** Where the diagram is committed, from the repository root. */
export const STATECHART_DOC = 'docs/statechart.md';
export const GENERATE_COMMAND = 'npx tsx scripts/generate-statechart.ts';

/** Mermaid ids cannot hold dots: `executing.tool` is `executing_tool`. */
const idOf = (path: string) => path.replaceAll('.', '_');
const nameOf = (path: string) => path.split('.').at(-1) ?? path;

function edge(transition: StatechartTransition): string {
  const guard = transition.guard ? ` [${transition.guard}]` : '';
  const label = transition.event === '' ? guard.trim() : `${transition.label}${guard}`;
  return `${idOf(transition.source)} --> ${idOf(transition.target)}${label ? `: ${label}` : ''}`;
}

/** A state and, for a compound one, its children and the transitions among them. */
function block(
  state: StatechartState,
  states: StatechartState[],
  inside: StatechartTransition[],
  indent: string,
): string[] {
  const id = idOf(state.path);
  const children = states.filter((child) => child.parent === state.path);
  // A nested state gets a short name on its unique id; a top-level one is named by its id.
  const lines =
    id !== nameOf(state.path) && !children.length
      ? [`${indent}state "${nameOf(state.path)}" as ${id}`]
      : [];
  if (state.invokes.length) lines.push(`${indent}${id}: invokes ${state.invokes.join(', ')}`);
  if (!children.length) return lines;
  lines.push(`${indent}state ${id} {`);
  if (state.initial) lines.push(`${indent}  [*] --> ${idOf(state.initial)}`);
  for (const child of children) lines.push(...block(child, states, inside, `${indent}  `));
  for (const transition of inside) {
    const parentOf = (path: string) => states.find((s) => s.path === path)?.parent;
    if (parentOf(transition.source) === state.path && parentOf(transition.target) === state.path) {
      lines.push(`${indent}  ${edge(transition)}`);
    }
  }
  lines.push(`${indent}}`);
  return lines;
}

/** docs/statechart.md: the machine as a Mermaid state diagram and as a table of transitions. */
export function renderStatechart(machine: AnyStateMachine, source: string): string {
  const states = machineStates(machine);
  const transitions = machineTransitions(machine);
  const parentOf = (path: string) => states.find((s) => s.path === path)?.parent ?? null;
  const nested = (t: StatechartTransition) =>
    parentOf(t.source) !== null && parentOf(t.source) === parentOf(t.target);
  const initial = machine.root.initial?.target[0]?.path.join('.') ?? '';
  const diagram = [
    'stateDiagram-v2',
    `  [*] --> ${idOf(initial)}`,
    ...states.filter((s) => s.parent === null).flatMap((s) => block(s, states, transitions, '  ')),
    ...transitions.filter((t) => !nested(t)).map((t) => `  ${edge(t)}`),
  ];
  const cell = (text: string) => (text ? `\`${text}\`` : '');
  const table = transitions.map(
    (t) =>
      `| ${cell(t.source)} | ${t.event === '' ? 'always' : cell(t.event)} | ${cell(t.guard ?? '')} | ${cell(t.target)} |`,
  );
  return [
    '# Session statechart',
    '',
    `<!-- Generated from ${source} by \`${GENERATE_COMMAND}\`: do not edit by hand. -->`,
    '',
    `Generated from \`${source}\`; \`test/model/statechart-doc.test.ts\` fails when this file is`,
    `out of date (run \`${GENERATE_COMMAND}\`). The wire \`state\` of a session is the`,
    'top-level state; the states inside `executing` are internal. Labels are `event [guard]`;',
    '`done(x)` and `error(x)` are the end of the invoked or spawned actor `x`.',
    '',
    '```mermaid',
    ...diagram,
    '```',
    '',
    `## Transitions (${transitions.length})`,
    '',
    'Every row is one transition, a guarded branch included. The model-based tests',
    '(`test/model/`) drive each one over a real WebSocket and fail when one is not driven.',
    '',
    '| Source | Event | Guard | Target |',
    '| --- | --- | --- | --- |',
    ...table,
    '',
  ].join('\n');
}
