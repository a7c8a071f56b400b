import type { AnyStateMachine } from 'xstate';
import { machineStates, machineTransitions } from '../../src/runtime/statechart-graph.ts';
import type { ModelStep } from './model-paths.ts';

/**
 * Transitions that no test can drive, each with the reason. Empty: every transition of the
 * session machine is driven over a real socket. An entry here must name a real transition that
 * stays uncovered, or the gate fails too.
 */
export const UNDRIVABLE: Readonly<Record<string, string>> = {};

export interface CoverageFigures {
  covered: number;
  total: number;
  missing: string[];
}

export interface CoverageReport {
  states: CoverageFigures;
  transitions: CoverageFigures;
}

/** Every state and every (source, event [guard], target) of the machine, and which were taken. */
export function createCoverage(machine: AnyStateMachine) {
  const allStates = machineStates(machine).map((state) => state.path);
  const allTransitions = machineTransitions(machine).map((transition) => transition.key);
  const states = new Set<string>();
  const transitions = new Set<string>();
  const figures = (all: string[], seen: Set<string>): CoverageFigures => ({
    covered: all.filter((key) => seen.has(key)).length,
    total: all.length,
    missing: all.filter((key) => !seen.has(key)),
  });
  return {
    /** A state seen without a step: the initial one. */
    visit(state: string): void {
      states.add(state);
    },
    record(step: ModelStep): void {
      for (const state of step.states) states.add(state);
      for (const transition of step.transitions) transitions.add(transition);
    },
    report(): CoverageReport {
      return {
        states: figures(allStates, states),
        transitions: figures(allTransitions, transitions),
      };
    },
  };
}

export type Coverage = ReturnType<typeof createCoverage>;

/** Every gap, as lines a failing test prints: a missing state or transition, or a stale exception. */
export function coverageGaps(
  report: CoverageReport,
  allTransitions: readonly string[],
  undrivable: Readonly<Record<string, string>> = UNDRIVABLE,
): string[] {
  const gaps = report.states.missing.map((state) => `state not covered: ${state}`);
  for (const key of report.transitions.missing) {
    if (!(key in undrivable)) gaps.push(`transition not covered: ${key}`);
  }
  for (const key of Object.keys(undrivable)) {
    if (!allTransitions.includes(key))
      gaps.push(`listed as undrivable but not in the machine: ${key}`);
    else if (!report.transitions.missing.includes(key)) {
      gaps.push(`listed as undrivable but covered: ${key}`);
    }
  }
  return gaps;
}

export function formatCoverage(report: CoverageReport): string {
  const pct = (f: CoverageFigures) =>
    `${f.covered}/${f.total} (${((100 * f.covered) / f.total).toFixed(0)}%)`;
  return `states ${pct(report.states)}, transitions ${pct(report.transitions)}`;
}
