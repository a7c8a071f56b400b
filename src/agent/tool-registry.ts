import type { z } from 'zod';
import { approvalPolicySchema, type ApprovalPolicyInput } from '../../machines/session.policy.ts';
import { AppError } from '../errors.ts';
import type { ApprovalPolicyRule, ToolContext, ToolDefinition } from './tool.ts';
import { validateTools } from './tool-validation.ts';

export interface ToolRegistry {
  get(name: string): ToolDefinition | undefined;
  list(): ToolDefinition[];
  /** The reason a call needs a human, or null. Invalid args need none: they fail when run. */
  approvalReason(name: string, args: Record<string, unknown>): string | null;
  /** The approval policy the tool (or the configuration) sets for these args; null: the default. */
  approvalPolicy(name: string, args: Record<string, unknown>): ApprovalPolicyInput | null;
  /** Why the args do not fit the tool's schema (its first issues), or null when they do. */
  argsProblem(name: string, args: Record<string, unknown>): string | null;
  /** Validates the args against the tool's schema and runs it. */
  run(name: string, args: Record<string, unknown>, context: ToolContext): Promise<unknown>;
}

/** Throws an InvalidToolError (`invalid_tool`) naming the first tool that cannot be served. */
export function createToolRegistry(
  tools: readonly ToolDefinition[],
  /** Policies by tool name, in place of the tools' own (configuration for the built-in ones). */
  policies: Readonly<Record<string, ApprovalPolicyRule<Record<string, unknown>>>> = {},
): ToolRegistry {
  validateTools(tools, policies);
  const byName = new Map(tools.map((tool) => [tool.name, tool]));

  function require(name: string): ToolDefinition {
    const tool = byName.get(name);
    if (!tool) throw new AppError('unknown_tool', `unknown tool "${name}"`);
    return tool;
  }

  return {
    get: (name) => byName.get(name),
    list: () => [...byName.values()],
    approvalReason(name, args) {
      const tool = byName.get(name);
      if (!tool || tool.needsApproval === false) return null;
      if (tool.needsApproval === true) return `${name} always needs approval`;
      const parsed = tool.args.safeParse(args);
      return parsed.success ? tool.needsApproval(parsed.data) : null;
    },
    approvalPolicy(name, args) {
      const tool = byName.get(name);
      const rule = policies[name] ?? tool?.approvalPolicy;
      if (!tool || rule === undefined) return null;
      if (typeof rule !== 'function') return rule;
      const parsed = tool.args.safeParse(args);
      if (!parsed.success) return null;
      const policy = rule(parsed.data);
      if (policy === null) return null;
      // A function's answer is checked on each call: a bad one fails the call, not the server.
      const checked = approvalPolicySchema.safeParse(policy);
      if (!checked.success) {
        throw new AppError(
          'invalid_tool',
          `tool ${name}: its approval policy for these args is invalid`,
        );
      }
      return policy;
    },
    argsProblem(name, args) {
      const parsed = byName.get(name)?.args.safeParse(args);
      return !parsed || parsed.success ? null : describeIssues(parsed.error);
    },
    async run(name, args, context) {
      const tool = require(name);
      const parsed = tool.args.safeParse(args);
      if (!parsed.success) {
        const problem = describeIssues(parsed.error);
        throw new AppError('invalid_tool_args', `invalid args for ${name}: ${problem}`);
      }
      return tool.run(parsed.data, context);
    },
  };
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(args)'}: ${i.message}`)
    .join('; ');
}
