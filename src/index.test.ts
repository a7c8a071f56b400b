import { describe, expect, it } from 'vitest';
import * as api from './index.ts';
import * as client from './client/index.ts';

// What these modules export is the contract: a name that appears or vanishes here is a change
// every embedder sees (types are checked by the package test's consumers, not here).
describe('the public API', () => {
  it('exports exactly these values from the package root', () => {
    expect(Object.keys(api).sort()).toEqual([
      'AppError',
      'ConfigError',
      'InvalidToolError',
      'builtinTools',
      'createBuiltinPlanner',
      'createLedger',
      'createOpenAIPlanner',
      'defineTool',
      'startServer',
    ]);
  });

  it('keeps the client entry point free of server code', () => {
    expect(Object.keys(client)).not.toContain('startServer');
    expect(Object.keys(client)).toContain('connectSession');
  });

  it('builtinTools() is the demo set, each call with its own ledger', async () => {
    const [first, second] = [api.builtinTools(), api.builtinTools()];
    expect(first.map((t) => t.name)).toEqual([
      'echo',
      'get_balance',
      'transfer',
      'sleep',
      'fail',
      'delegate',
    ]);
    const context = {
      signal: new AbortController().signal,
      sessionId: 's',
      executionId: 'e',
      callId: 'c',
    };
    const transfer = first.find((t) => t.name === 'transfer')!;
    await transfer.run({ from: 'operating', to: 'bob', amount: 5, currency: 'USD' }, context);
    const balance = (tools: typeof first) =>
      tools.find((t) => t.name === 'get_balance')!.run({ account: 'bob' }, context);
    expect(await balance(first)).toEqual({ account: 'bob', balance: 505 });
    expect(await balance(second)).toEqual({ account: 'bob', balance: 500 });
  });
});
