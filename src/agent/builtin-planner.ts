import { createCommandPlanner } from './command-planner.ts';
import { createPlanPlanner } from './plan-planner.ts';
import type { Planner } from './planner.ts';

/** The built-in agent: the `plan` when the execute message has one, else the command rules. */
export function createBuiltinPlanner(): Planner {
  const plans = createPlanPlanner();
  const commands = createCommandPlanner();
  return {
    next: (input, context) => (input.plan ? plans : commands).next(input, context),
  };
}
