import type { BenchConfig, FlowPhase } from './config.ts';
import { flowRun, type FlowRun, type FlowTarget } from './phases.ts';
import { phaseName } from './report.ts';
import { medianOf } from './stats.ts';
import type { Worker } from './workers.ts';

export interface FlowPhaseResult {
  phase: FlowPhase;
  median: FlowRun;
  runs: FlowRun[];
}

/**
 * A warm-up (JIT, pools, caches: not reported), then `config.runs` runs of each phase on the
 * target, each run printed as it ends; medians per phase.
 */
export async function runFlowPhases(
  target: FlowTarget,
  phases: readonly FlowPhase[],
  config: BenchConfig,
  workers: Worker[],
  label = '',
): Promise<FlowPhaseResult[]> {
  const { durationMs, connectConcurrency } = config;
  await flowRun(target, workers, { sessions: 50, rate: null }, 2_000, connectConcurrency);
  const results: FlowPhaseResult[] = [];
  for (const phase of phases) {
    const runs: FlowRun[] = [];
    for (let run = 1; run <= config.runs; run += 1) {
      const result = await flowRun(target, workers, phase, durationMs, connectConcurrency);
      console.log(
        `  flows${label}, ${phaseName(phase)}, run ${run}: ${Math.round(result.flowsPerSec)} flows/s, ` +
          `p99 ${result.firstP99.toFixed(1)} / ${result.completeP99.toFixed(1)} ms`,
      );
      runs.push(result);
    }
    results.push({ phase, median: medianOf(runs), runs });
  }
  return results;
}
