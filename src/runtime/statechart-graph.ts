import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

/**
 * The states and transitions of a machine, read from its definition: what the Mermaid diagram
 * draws and what the model-based tests must cover. Nothing here is written by hand.
 */

export interface StatechartState {
  /** Dotted path from the root: `executing.tool`. */
  path: string;
  parent: string | null;
  initial: string | null;
  /** Invoked actors by src, for labels. */
  invokes: string[];
}

export interface StatechartTransition {
  /** `source --event [guard]--> target`: one row per guarded branch. */
  key: string;
  source: string;
  /** The event type; `''` for an eventless (`always`) transition. */
  event: string;
  /** `done(planner)` for `xstate.done.actor.0.session.thinking`, and so on. */
  label: string;
  guard: string | null;
  target: string;
}

export function statePath(node: AnyStateNode): string {
  return node.path.join('.');
}

const srcOf = (invoke: AnyStateNode['invoke'][number]) =>
  typeof invoke.src === 'string' ? invoke.src : invoke.id;

function nodesOf(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states).flatMap((child) => [child, ...nodesOf(child)]);
}

export function machineStates(machine: AnyStateMachine): StatechartState[] {
  return nodesOf(machine.root).map((node) => ({
    path: statePath(node),
    parent: node.parent && node.parent !== machine.root ? statePath(node.parent) : null,
    initial: node.initial?.target[0] ? statePath(node.initial.target[0]) : null,
    invokes: node.invoke.map(srcOf),
  }));
}

function guardName(transition: AnyTransitionDefinition): string | null {
  const guard: unknown = transition.guard;
  if (guard === undefined) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && guard !== null && 'type' in guard) return String(guard.type);
  return typeof guard === 'function' && guard.name ? guard.name : 'inline';
}

/** `done(planner)`, `error(tool)`, `error(subagent)`, `always`, or the event type itself. */
export function eventLabel(machine: AnyStateMachine, eventType: string): string {
  if (eventType === '') return 'always';
  const match = /^xstate\.(done|error)\.actor\.(.+)$/.exec(eventType);
  if (!match) return eventType;
  const [, kind, id] = match;
  const invoke = nodesOf(machine.root)
    .flatMap((node) => node.invoke)
    .find((candidate) => candidate.id === id);
  return `${kind}(${invoke ? srcOf(invoke) : id})`;
}

/** The key of one transition definition: the same for a machine and its `.provide()` copies. */
export function transitionKey(
  machine: AnyStateMachine,
  transition: AnyTransitionDefinition,
): string {
  const source = statePath(transition.source);
  const targets = (transition.target ?? [transition.source]).map(statePath).join(',');
  const guard = guardName(transition);
  return `${source} --${eventLabel(machine, String(transition.eventType))}${guard ? ` [${guard}]` : ''}--> ${targets}`;
}

export function machineTransitions(machine: AnyStateMachine): StatechartTransition[] {
  return nodesOf(machine.root).flatMap((node) => {
    const definitions = [...node.transitions.values()].flat().concat(node.always ?? []);
    return definitions.map((transition) => ({
      key: transitionKey(machine, transition),
      source: statePath(node),
      event: String(transition.eventType),
      label: eventLabel(machine, String(transition.eventType)),
      guard: guardName(transition),
      target: (transition.target ?? [node]).map(statePath).join(','),
    }));
  });
}

/** A machine's whole graph, as the inspector draws it (`GET /api/v1/statechart`). */
export interface Statechart {
  id: string;
  initial: string | null;
  states: StatechartState[];
  transitions: StatechartTransition[];
}

export function describeStatechart(machine: AnyStateMachine): Statechart {
  const initial = machine.root.initial?.target[0];
  return {
    id: machine.id,
    initial: initial ? statePath(initial) : null,
    states: machineStates(machine),
    transitions: machineTransitions(machine),
  };
}
