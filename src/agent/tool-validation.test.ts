import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { builtinTools } from './builtin-tools.ts';
import { createToolRegistry } from './tool-registry.ts';
import { defineTool, type ToolContext, type ToolDefinition } from './tool.ts';
import { InvalidToolError } from './tool-validation.ts';

const refund = defineTool({
  name: 'refund',
  description: 'Refunds an order.',
  args: z.object({ order_id: z.string(), amount: z.number().positive() }),
  needsApproval: true,
  idempotent: false,
  run: ({ order_id, amount }) => Promise.resolve({ refunded: amount, order_id }),
});

/** The error `createToolRegistry` throws for these tools (it must throw one). */
function refusal(tools: readonly unknown[]): InvalidToolError {
  try {
    createToolRegistry(tools as ToolDefinition[]);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidToolError);
    return error as InvalidToolError;
  }
  throw new Error('the tools were accepted');
}

const context: ToolContext = {
  signal: new AbortController().signal,
  sessionId: 'ses_1',
  executionId: 'exec_1',
  callId: 'call_1',
};

describe('tool validation', () => {
  it('accepts the built-in tools and a custom one together', () => {
    const registry = createToolRegistry([...builtinTools(), refund]);
    expect(registry.list()).toHaveLength(7);
  });

  it.each(['', 'has space', 'dot.ted', 'ünï', 'x'.repeat(65)])('refuses the name %j', (name) => {
    const error = refusal([{ ...refund, name }]);
    expect(error.code).toBe('invalid_tool');
    expect(error.tool).toBe(JSON.stringify(name));
    expect(error.message).toBe(
      `tool ${JSON.stringify(name)}: the name must match ^[a-zA-Z0-9_-]{1,64}$`,
    );
  });

  it('accepts a 64-character name of letters, digits, _ and -', () => {
    expect(() => createToolRegistry([{ ...refund, name: `a-_9${'z'.repeat(60)}` }])).not.toThrow();
  });

  it('refuses a name used twice, naming it', () => {
    const error = refusal([...builtinTools(), { ...refund, name: 'transfer' }]);
    expect(error.message).toBe('tool "transfer": the name is used by another tool');
  });

  it('refuses args that are not a zod object schema', () => {
    for (const args of [z.string(), z.array(z.number()), { order_id: 'string' }, undefined]) {
      expect(refusal([{ ...refund, args }]).message).toBe(
        'tool "refund": args must be a zod object schema (z.object({...}))',
      );
    }
  });

  it('refuses args that JSON Schema cannot express', () => {
    const args = z.object({ when: z.date() });
    expect(refusal([{ ...refund, args }]).message).toMatch(
      /^tool "refund": args cannot be converted to JSON Schema \(.+\)$/,
    );
  });

  it('refuses a tool without a usable policy, flag, description or run', () => {
    expect(refusal([{ ...refund, needsApproval: 'always' }]).message).toMatch(/needsApproval/);
    expect(refusal([{ ...refund, idempotent: undefined }]).message).toMatch(/idempotent/);
    expect(refusal([{ ...refund, description: ' ' }]).message).toMatch(/description/);
    expect(refusal([{ ...refund, run: 'refund()' }]).message).toMatch(/run must be a function/);
    expect(refusal([null]).message).toMatch(/^tool #0: /);
  });
});

describe('needsApproval', () => {
  it('true asks for approval with the standard reason', () => {
    const registry = createToolRegistry([refund]);
    expect(registry.approvalReason('refund', { order_id: 'o1', amount: 5 })).toBe(
      'refund always needs approval',
    );
  });

  it('a function sees the parsed args and its reason or null decides', () => {
    const capped = defineTool({
      name: 'refund',
      description: 'Refunds an order; above 50 a human decides.',
      args: z.object({ order_id: z.string(), amount: z.number() }),
      needsApproval: ({ amount }) => (amount > 50 ? `${amount} > 50` : null),
      idempotent: false,
      run: () => Promise.resolve(null),
    });
    const registry = createToolRegistry([capped]);
    expect(registry.approvalReason('refund', { order_id: 'o1', amount: 80 })).toBe('80 > 50');
    expect(registry.approvalReason('refund', { order_id: 'o1', amount: 20 })).toBeNull();
  });

  it('false never asks, and run gets the parsed args and the camelCase context', async () => {
    const seen: unknown[] = [];
    const tool = defineTool({
      ...refund,
      needsApproval: false,
      run: (args, ctx) => {
        seen.push(args, ctx.sessionId, ctx.executionId, ctx.callId);
        return Promise.resolve('ok');
      },
    });
    const registry = createToolRegistry([tool]);
    expect(registry.approvalReason('refund', { order_id: 'o1', amount: 1 })).toBeNull();
    expect(await registry.run('refund', { order_id: 'o1', amount: 1 }, context)).toBe('ok');
    expect(seen).toEqual([{ order_id: 'o1', amount: 1 }, 'ses_1', 'exec_1', 'call_1']);
  });
});

describe('approvalPolicy', () => {
  const fourEyes = { quorum: 2, roles: ['approver'], exclude_requester: true };

  it('is read for the call: a static policy, a function of the args, or configuration', () => {
    const registry = createToolRegistry([
      {
        ...refund,
        approvalPolicy: (args: { amount: number }) => (args.amount > 100 ? fourEyes : null),
      } as ToolDefinition,
    ]);
    expect(registry.approvalPolicy('refund', { order_id: 'o', amount: 500 })).toEqual(fourEyes);
    expect(registry.approvalPolicy('refund', { order_id: 'o', amount: 5 })).toBeNull();
    const configured = createToolRegistry([refund], { refund: { quorum: 3 } });
    expect(configured.approvalPolicy('refund', { order_id: 'o', amount: 5 })).toEqual({
      quorum: 3,
    });
    expect(createToolRegistry([refund]).approvalPolicy('refund', { amount: 1 })).toBeNull();
  });

  it('refuses an invalid static policy at start, naming the tool and the field', () => {
    const error = refusal([{ ...refund, approvalPolicy: { quorum: 0 } }]);
    expect(error.message).toContain('"refund": approvalPolicy quorum');
    expect(() => createToolRegistry([refund], { refnud: { quorum: 2 } })).toThrow(
      /"refnud": a policy names no tool/,
    );
  });

  it('fails the call, not the server, when a policy function answers an invalid policy', () => {
    const registry = createToolRegistry([{ ...refund, approvalPolicy: () => ({ quorum: -1 }) }]);
    expect(() => registry.approvalPolicy('refund', { order_id: 'o', amount: 5 })).toThrow(
      /approval policy for these args is invalid/,
    );
  });
});
