import type { PlanStep } from '../../machines/session.events.ts';
import { createBuiltinPlanner } from '../../src/agent/builtin-planner.ts';
import type { Planner } from '../../src/agent/planner.ts';
import { toolOutcomes } from '../../src/agent/tool-outcomes.ts';

/**
 * The built-in planner, plus the two things a real (LLM) planner does that the built-in one
 * never does: fail, and take long enough to be cancelled. A plan step with one of these tool
 * names is not a tool call: the planner fails, or waits until it is aborted, at that step.
 */
export const PLANNER_FAILS: PlanStep = { tool: 'model.planner_fails', args: {} };
export const PLANNER_WAITS: PlanStep = { tool: 'model.planner_waits', args: {} };

export function createModelPlanner(inner: Planner = createBuiltinPlanner()): Planner {
  return {
    next(input, context) {
      const { signal } = context;
      const step = input.plan?.[toolOutcomes(input.history).length];
      if (step?.tool === PLANNER_FAILS.tool) {
        return Promise.reject(new Error('the planner is unavailable'));
      }
      if (step?.tool === PLANNER_WAITS.tool) {
        return new Promise((_, reject) => {
          const abort = () => reject(new Error('planning aborted'));
          if (signal.aborted) abort();
          else signal.addEventListener('abort', abort, { once: true });
        });
      }
      return inner.next(input, context);
    },
  };
}
