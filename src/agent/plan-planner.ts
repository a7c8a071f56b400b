import type { PlannerInput } from '../../machines/session.types.ts';
import { summarize } from './history-summary.ts';
import type { Planner, PlannerStep } from './planner.ts';
import { toolOutcomes } from './tool-outcomes.ts';

/**
 * Runs the execute message's `plan` in order, one step per thinking turn. Every step leaves
 * one tool outcome (a result or a rejection), so the next step is at the count of outcomes
 * (model `message` entries never shift it); a rejected step is skipped and shows in the
 * summary with its reason.
 */
export function createPlanPlanner(): Planner {
  return {
    next(input: PlannerInput): Promise<PlannerStep> {
      const plan = input.plan ?? [];
      const step = plan[toolOutcomes(input.history).length];
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
