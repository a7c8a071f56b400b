import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTargets } from '../support/targets.ts';
import { sessionMachine } from '../../machines/session.machine.ts';
import { createManualClock, type ManualClock } from '../support/manual-clock.ts';
import type { App } from '../support/test-app.ts';
import { machineTransitions } from '../../src/runtime/statechart-graph.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';
import { signToken, startTestApp } from '../support/test-app.ts';
import { coverageGaps, createCoverage, formatCoverage, type Coverage } from './coverage.ts';
import { createCrashStore } from './crash-store.ts';
import { generateModelPaths, type ModelStep } from './model-paths.ts';
import { createModelPlanner } from './planner-double.ts';
import { MODEL_APPROVAL_TTL_MS, modelTransferPolicy } from './scenarios.ts';
import { runPathOverWire } from './wire-driver.ts';

/**
 * Model-based tests: the paths come from the session statechart (xstate/graph over the real
 * machine), every one runs against the real server over a real WebSocket, and the suite fails
 * unless every state and transition of the machine was driven and checked.
 */

const APPROVAL_TTL_MS = MODEL_APPROVAL_TTL_MS;
const paths = generateModelPaths();
const transitionKeys = machineTransitions(sessionMachine).map((t) => t.key);

function recordAll(coverage: Coverage, steps: readonly ModelStep[]): void {
  for (const step of steps) {
    if (step.subagent) recordAll(coverage, step.subagent);
    coverage.record(step);
  }
}

describe('the generated paths', () => {
  it('take every state and transition of the machine', () => {
    const coverage = createCoverage(sessionMachine);
    coverage.visit('idle');
    for (const path of paths) recordAll(coverage, path.steps);
    const report = coverage.report();
    console.info(`model: ${paths.length} paths; ${formatCoverage(report)}`);
    expect(coverageGaps(report, transitionKeys)).toEqual([]);
  });

  it("leave a subagent's end to subagent_end: it emits no complete, nor the error that fails it", () => {
    const subagentSteps: ModelStep[] = [];
    const collect = (steps: readonly ModelStep[]) => {
      for (const step of steps) {
        if (step.subagent) collect(step.subagent);
        if (step.depth > 0) subagentSteps.push(step);
      }
    };
    for (const path of paths) collect(path.steps);
    // Not vacuous: subagents of the paths do complete and do fail.
    const ends = new Set(subagentSteps.map((step) => step.top));
    expect([...ends]).toEqual(expect.arrayContaining(['complete', 'failed']));
    const ending = subagentSteps.filter((step) => step.top === 'complete' || step.top === 'failed');
    expect(ending.map((step) => `${step.label} -> ${step.top}: ${step.emitted.join(',')}`)).toEqual(
      ending.map(
        (step) =>
          `${step.label} -> ${step.top}: ${step.emitted.filter((t) => t !== 'complete' && t !== 'error').join(',')}`,
      ),
    );
    // The session's own steps into complete and failed still emit them.
    const top = paths.flatMap((path) => path.steps);
    expect(top.some((s) => s.top === 'complete' && s.emitted.includes('complete'))).toBe(true);
    expect(top.some((s) => s.top === 'failed' && s.emitted.includes('error'))).toBe(true);
  });

  it('fail the gate when a transition is not taken', () => {
    const coverage = createCoverage(sessionMachine);
    for (const path of paths.filter((p) => !p.name.includes('delegate_deep'))) {
      recordAll(coverage, path.steps);
    }
    expect(coverageGaps(coverage.report(), transitionKeys)).toContain(
      'transition not covered: executing.subagent --error(subagent)--> failed',
    );
    const stale = { 'idle --execute--> thinking': 'claimed undrivable' };
    expect(coverageGaps(coverage.report(), transitionKeys, stale)).toContain(
      'listed as undrivable but covered: idle --execute--> thinking',
    );
  });
});

describe.each(testTargets())(
  'the statechart over a real WebSocket on $name',
  ({ backend, transport }) => {
    let db: TestStore;
    let app: App;
    let clock: ManualClock;
    let token: string;
    const coverage = createCoverage(sessionMachine);
    let started = 0;

    beforeAll(async () => {
      db = await openTestStore(backend);
      clock = createManualClock();
      app = await startTestApp({
        transport,
        store: createCrashStore(db.store),
        clock,
        planner: createModelPlanner(),
        env: { APPROVAL_TTL_MS: String(APPROVAL_TTL_MS) },
        approvalPolicies: { transfer: modelTransferPolicy },
      });
      token = await signToken('model-user');
      started = Date.now();
    });
    afterAll(async () => {
      await app?.close();
      await db?.dispose();
    });

    it.each(paths.map((path) => [path.name, path] as const))('%s', async (_name, path) => {
      await runPathOverWire({ app, clock, approvalTtlMs: APPROVAL_TTL_MS, token }, path, coverage);
    });

    it('drove every state and transition of the machine', () => {
      const report = coverage.report();
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.info(
        `${backend}: ${paths.length} paths over WebSocket in ${seconds} s; ${formatCoverage(report)}`,
      );
      expect(coverageGaps(report, transitionKeys)).toEqual([]);
    });
  },
);
