import { z } from 'zod';
import { approvalPolicySchema } from '../../machines/session.policy.ts';
import { AppError } from '../errors.ts';
import type { ToolDefinition } from './tool.ts';

/** The Chat Completions rule for function names, so any planner can offer every tool. */
export const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** A tool list that cannot be served: `startServer` fails with this before it listens. */
export class InvalidToolError extends AppError {
  /** The offending tool's name as given (or its position when it has no usable name). */
  readonly tool: string;

  constructor(tool: string, problem: string) {
    super('invalid_tool', `tool ${tool}: ${problem}`, 500, { tool });
    this.name = 'InvalidToolError';
    this.tool = tool;
  }
}

/**
 * Checks what the types cannot promise a plain-JavaScript caller: every tool has a valid,
 * unique name, a zod object args schema that converts to JSON Schema, and a usable policy.
 */
export function validateTools(
  tools: readonly unknown[],
  policies: Readonly<Record<string, unknown>> = {},
): asserts tools is ToolDefinition[] {
  const seen = new Set<string>();
  tools.forEach((value, index) => {
    const tool = (typeof value === 'object' && value !== null ? value : {}) as Partial<
      Record<keyof ToolDefinition, unknown>
    >;
    const label = typeof tool.name === 'string' ? JSON.stringify(tool.name) : `#${index}`;
    const fail = (problem: string) => new InvalidToolError(label, problem);
    if (typeof tool.name !== 'string' || !TOOL_NAME.test(tool.name)) {
      throw fail('the name must match ^[a-zA-Z0-9_-]{1,64}$');
    }
    if (seen.has(tool.name)) throw fail('the name is used by another tool');
    seen.add(tool.name);
    if (typeof tool.description !== 'string' || tool.description.trim() === '') {
      throw fail('description must be a non-empty string');
    }
    const problem = argsSchemaProblem(tool.args);
    if (problem) throw fail(problem);
    if (typeof tool.needsApproval !== 'boolean' && typeof tool.needsApproval !== 'function') {
      throw fail('needsApproval must be true, false or a function of the args');
    }
    const policy = policyProblem(policies[tool.name] ?? tool.approvalPolicy);
    if (policy) throw fail(`approvalPolicy ${policy}`);
    if (typeof tool.idempotent !== 'boolean') throw fail('idempotent must be true or false');
    if (typeof tool.run !== 'function') throw fail('run must be a function');
  });
  for (const name of Object.keys(policies)) {
    if (!seen.has(name)) throw new InvalidToolError(JSON.stringify(name), 'a policy names no tool');
  }
}

/** What is wrong with a declared policy (a function is checked on each call), or null. */
function policyProblem(policy: unknown): string | null {
  if (policy === undefined || typeof policy === 'function') return null;
  const parsed = approvalPolicySchema.safeParse(policy);
  if (parsed.success) return null;
  const issue = parsed.error.issues[0];
  return `${issue?.path.join('.') || '(policy)'}: ${issue?.message ?? 'invalid'}`;
}

function argsSchemaProblem(args: unknown): string | null {
  // Read the def rather than `instanceof`: the caller's zod may be another copy of v4.
  const def = (args as { _zod?: { def?: { type?: unknown } } } | null)?._zod?.def;
  if (def?.type !== 'object') return 'args must be a zod object schema (z.object({...}))';
  try {
    z.toJSONSchema(args as z.ZodObject);
    return null;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return `args cannot be converted to JSON Schema (${detail})`;
  }
}
