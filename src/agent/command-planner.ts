import type { PlannerInput } from '../../machines/session.types.ts';
import { describeStep } from './history-summary.ts';
import type { Planner, PlannerStep } from './planner.ts';
import { toolOutcomes } from './tool-outcomes.ts';

const RULES: ReadonlyArray<{ pattern: RegExp; step: (m: RegExpMatchArray) => PlannerStep }> = [
  {
    // transfer 250 USD to alice | transfer 250 to alice | send 42.5 eur to bob
    pattern: /^(?:transfer|send|pay)\s+(\d+(?:\.\d+)?)\s*([a-z]{3})?\s+to\s+([a-z0-9_-]+)$/i,
    step: (m) => ({
      kind: 'call',
      tool: 'transfer',
      args: {
        amount: Number(m[1]),
        currency: (m[2] ?? 'USD').toUpperCase(),
        to: m[3]!.toLowerCase(),
      },
    }),
  },
  {
    // balance | balance of alice | balance alice | get balance for bob
    pattern: /^(?:get\s+)?balance(?:\s+(?:of|for))?(?:\s+([a-z0-9_-]+))?$/i,
    step: (m) => ({
      kind: 'call',
      tool: 'get_balance',
      args: { account: (m[1] ?? 'operating').toLowerCase() },
    }),
  },
  {
    pattern: /^echo\s+([\s\S]+)$/i,
    step: (m) => ({ kind: 'call', tool: 'echo', args: { text: m[1]! } }),
  },
  {
    pattern: /^sleep\s+(\d+)\s*(?:ms)?$/i,
    step: (m) => ({ kind: 'call', tool: 'sleep', args: { ms: Number(m[1]) } }),
  },
  {
    pattern: /^fail(?:\s+([\s\S]+))?$/i,
    step: (m) => ({ kind: 'call', tool: 'fail', args: { message: m[1] ?? 'failed on request' } }),
  },
];

export const COMMAND_EXAMPLES = [
  'transfer 250 USD to alice',
  'balance of alice',
  'echo hi',
  'sleep 500',
];

/**
 * A deterministic rule-based planner for simple commands: one tool call, then an answer that
 * reports its result (or its rejection). A command it cannot parse gets an answer saying so.
 */
export function createCommandPlanner(): Planner {
  return {
    next(input: PlannerInput): Promise<PlannerStep> {
      const done = toolOutcomes(input.history)[0];
      if (done) return Promise.resolve({ kind: 'final', summary: describeStep(done) });
      const command = input.command.trim();
      for (const rule of RULES) {
        const match = command.match(rule.pattern);
        if (match) return Promise.resolve(rule.step(match));
      }
      return Promise.resolve({
        kind: 'final',
        summary: `I did not understand "${command.slice(0, 200)}". Try: ${COMMAND_EXAMPLES.join(' | ')}`,
      });
    },
  };
}
