import { z } from 'zod';
import type { ToolDefinition } from './tool.ts';

/** A tool as clients see it (`GET /api/v1/tools`): what an edit form is generated from. */
export interface ToolDescription {
  name: string;
  description: string;
  /** `never`, `always`, or `conditional` (a predicate on the args decides). */
  approval: 'never' | 'always' | 'conditional';
  idempotent: boolean;
  /** The args schema as JSON Schema (draft 2020-12), generated from the tool's zod schema. */
  args_schema: Record<string, unknown>;
}

export function describeTool(tool: ToolDefinition): ToolDescription {
  return {
    name: tool.name,
    description: tool.description,
    approval:
      tool.needsApproval === true
        ? 'always'
        : tool.needsApproval === false
          ? 'never'
          : 'conditional',
    idempotent: tool.idempotent,
    // `unrepresentable: 'any'`: a refinement or transform is left to the server's check.
    args_schema: z.toJSONSchema(tool.args, { unrepresentable: 'any', io: 'input' }),
  };
}
