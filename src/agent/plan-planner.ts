import type { PlannerInput } from '../../machines/session.types.ts';
import { summarize } from './history-summary.ts';
import type { Planner, PlannerStep } from './planner.ts';

/**
 * Runs the execute message's `plan` in order, one step per thinking turn. Every step leaves
 * one history entry (a result or a rejection), so the next step is at index history.length;
 * a rejected step is skipped and shows in the summary with its reason.
 */
export function createPlanPlanner(): Planner {
  return {
    next(input: PlannerInput): Promise<PlannerStep> {
      const plan = input.plan ?? [];
      const step = plan[input.history.length];
      if (!step) {
        return Promise.resolve({
          kind: 'final',
          summary: `plan finished (${plan.length} steps)\n${summarize(input.history)}`,
        });
      }
      return Promise.resolve({ kind: 'call', tool: step.tool, args: step.args });
    },
  };
}
