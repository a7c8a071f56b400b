import type { ToolArgs } from '../../../machines/session.events.ts';
import type { ToolDefinition } from '../tool.ts';
import type { AssembledToolCall } from './tool-call-assembly.ts';

/** One streamed call once its arguments are parsed and checked against its tool. */
export interface CheckedToolCall {
  model_call_id: string;
  tool: string;
  /** The arguments as the model sent them, for the conversation. */
  arguments: string;
  args: ToolArgs;
  /** Why the call must not run (unknown tool, bad JSON, schema violation), or null. */
  problem: string | null;
}

/**
 * Parses each call's arguments (only now that the stream has ended) and checks them against
 * the tool's schema. `newModelCallId` names calls the server sent without an id.
 */
export function checkToolCalls(
  calls: readonly AssembledToolCall[],
  tools: ReadonlyMap<string, ToolDefinition>,
  newModelCallId: () => string,
): CheckedToolCall[] {
  return calls.map((call) => {
    const model_call_id = call.id ?? newModelCallId();
    const text =
      typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
    const parsed = parseArgs(call.arguments);
    const base = { model_call_id, tool: call.name, arguments: text };
    if (!parsed.ok) return { ...base, args: {}, problem: parsed.problem };
    const tool = tools.get(call.name);
    if (!tool) {
      const known = [...tools.keys()].join(', ') || 'none';
      return {
        ...base,
        args: parsed.args,
        problem: `unknown tool "${call.name}" (tools: ${known})`,
      };
    }
    const checked = tool.args.safeParse(parsed.args);
    if (checked.success) return { ...base, args: parsed.args, problem: null };
    const issues = checked.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.join('.') || '(args)'}: ${issue.message}`)
      .join('; ');
    return { ...base, args: parsed.args, problem: `invalid arguments for ${call.name}: ${issues}` };
  });
}

function parseArgs(
  raw: string | Record<string, unknown>,
): { ok: true; args: ToolArgs } | { ok: false; problem: string } {
  if (typeof raw !== 'string') return { ok: true, args: raw };
  // Servers send "" for a call without arguments.
  if (raw.trim() === '') return { ok: true, args: {} };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, problem: `arguments are not valid JSON (${reason})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, problem: 'arguments must be a JSON object' };
  }
  return { ok: true, args: value as ToolArgs };
}
