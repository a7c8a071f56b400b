import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { createBuiltinTools, TRANSFER_APPROVAL_LIMIT } from './builtin-tools.ts';
import { createLedger } from './ledger.ts';
import { createToolRegistry } from './tool-registry.ts';
import type { ToolContext } from './tool.ts';

function setup() {
  const ledger = createLedger();
  const registry = createToolRegistry(createBuiltinTools(ledger));
  return { ledger, registry };
}

function context(signal = new AbortController().signal): ToolContext {
  return { signal, sessionId: 'ses_1', executionId: 'exec_1', callId: 'call_1' };
}

async function appErrorOf(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('registry', () => {
  it('lists every built-in tool with a description', () => {
    const { registry } = setup();
    expect(registry.list().map((t) => t.name)).toEqual([
      'echo',
      'get_balance',
      'transfer',
      'sleep',
      'fail',
      'delegate',
    ]);
    for (const tool of registry.list()) expect(tool.description.length).toBeGreaterThan(0);
  });

  it('refuses an unknown tool', async () => {
    const { registry } = setup();
    expect((await appErrorOf(registry.run('rm', {}, context()))).code).toBe('unknown_tool');
    expect(registry.approvalReason('rm', {})).toBeNull();
  });

  it('refuses two tools with one name', () => {
    const tools = createBuiltinTools(createLedger());
    expect(() => createToolRegistry([...tools, tools[0]!])).toThrow(
      'tool "echo": the name is used by another tool',
    );
  });
});

describe('echo', () => {
  it('returns its text without approval', async () => {
    const { registry } = setup();
    expect(await registry.run('echo', { text: 'hi' }, context())).toEqual({ text: 'hi' });
    expect(registry.approvalReason('echo', { text: 'hi' })).toBeNull();
  });

  it('refuses missing text', async () => {
    const { registry } = setup();
    expect((await appErrorOf(registry.run('echo', {}, context()))).code).toBe('invalid_tool_args');
  });
});

describe('get_balance', () => {
  it('reads a known account, and the operating account by default', async () => {
    const { registry } = setup();
    expect(await registry.run('get_balance', { account: 'alice' }, context())).toEqual({
      account: 'alice',
      balance: 1_000,
    });
    expect(await registry.run('get_balance', {}, context())).toEqual({
      account: 'operating',
      balance: 1_000_000,
    });
  });

  it('refuses an unknown account', async () => {
    const { registry } = setup();
    const error = await appErrorOf(registry.run('get_balance', { account: 'mallory' }, context()));
    expect(error.code).toBe('unknown_account');
    expect(error.message).toContain('mallory');
  });
});

describe('transfer', () => {
  it('moves money from operating to the payee', async () => {
    const { ledger, registry } = setup();
    const result = await registry.run(
      'transfer',
      { to: 'alice', amount: 250, currency: 'USD' },
      context(),
    );
    expect(result).toEqual({
      from: 'operating',
      to: 'alice',
      amount: 250,
      currency: 'USD',
      from_balance: 999_750,
      to_balance: 1_250,
    });
    expect(ledger.balance('alice')).toBe(1_250);
    expect(ledger.balance('operating')).toBe(999_750);
    expect(ledger.transfers()).toBe(1);
  });

  it('moves money between named accounts', async () => {
    const { ledger, registry } = setup();
    await registry.run(
      'transfer',
      { from: 'alice', to: 'bob', amount: 100, currency: 'EUR' },
      context(),
    );
    expect([ledger.balance('alice'), ledger.balance('bob')]).toEqual([900, 600]);
  });

  it(`needs approval above ${TRANSFER_APPROVAL_LIMIT} only`, () => {
    const { registry } = setup();
    const reason = (amount: number) =>
      registry.approvalReason('transfer', { to: 'alice', amount, currency: 'USD' });
    expect(reason(1)).toBeNull();
    expect(reason(100)).toBeNull();
    expect(reason(100.01)).toMatch(/100\.01 USD to alice/);
    expect(reason(250)).toBe('transfer of 250 USD to alice is above the 100 USD limit');
  });

  const bad: Record<string, Record<string, unknown>> = {
    'missing to': { amount: 10, currency: 'USD' },
    'a negative amount': { to: 'alice', amount: -10, currency: 'USD' },
    'a zero amount': { to: 'alice', amount: 0, currency: 'USD' },
    'a string amount': { to: 'alice', amount: '10', currency: 'USD' },
    'a lowercase currency': { to: 'alice', amount: 10, currency: 'usd' },
    'an extra key': { to: 'alice', amount: 10, currency: 'USD', memo: 'hi' },
    'a bad account name': { to: 'alice; drop', amount: 10, currency: 'USD' },
  };
  for (const [name, args] of Object.entries(bad)) {
    it(`refuses ${name} and leaves the ledger alone`, async () => {
      const { ledger, registry } = setup();
      const error = await appErrorOf(registry.run('transfer', args, context()));
      expect(error.code).toBe('invalid_tool_args');
      expect(error.message).toContain('transfer');
      expect(ledger.transfers()).toBe(0);
      expect(ledger.balance('alice')).toBe(1_000);
      expect(ledger.balance('operating')).toBe(1_000_000);
    });
  }

  it('refuses insufficient funds and leaves the ledger alone', async () => {
    const { ledger, registry } = setup();
    const args = { from: 'carol', to: 'alice', amount: 251, currency: 'USD' };
    const error = await appErrorOf(registry.run('transfer', args, context()));
    expect(error.code).toBe('insufficient_funds');
    expect([ledger.balance('carol'), ledger.balance('alice'), ledger.transfers()]).toEqual([
      250, 1_000, 0,
    ]);
  });

  it('refuses a transfer to the same account', async () => {
    const { ledger, registry } = setup();
    const args = { from: 'alice', to: 'alice', amount: 1, currency: 'USD' };
    expect((await appErrorOf(registry.run('transfer', args, context()))).code).toBe(
      'invalid_tool_args',
    );
    expect(ledger.transfers()).toBe(0);
  });

  it('is the one built-in tool that is not idempotent', () => {
    const { registry } = setup();
    const once = registry.list().filter((t) => !t.idempotent);
    expect(once.map((t) => t.name)).toEqual(['transfer']);
  });
});

describe('sleep', () => {
  it('resolves after the time', async () => {
    const { registry } = setup();
    const result = (await registry.run('sleep', { ms: 5 }, context())) as { slept_ms: number };
    expect(result.slept_ms).toBeGreaterThanOrEqual(4);
  });

  it('rejects promptly when aborted mid-way', async () => {
    const { registry } = setup();
    const controller = new AbortController();
    const started = performance.now();
    const sleeping = registry.run('sleep', { ms: 10_000 }, context(controller.signal));
    setTimeout(() => controller.abort(new Error('cancelled by test')), 20);
    await expect(sleeping).rejects.toThrow('cancelled by test');
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('rejects at once when already aborted', async () => {
    const { registry } = setup();
    const controller = new AbortController();
    controller.abort();
    await expect(registry.run('sleep', { ms: 10_000 }, context(controller.signal))).rejects.toThrow(
      'aborted',
    );
  });

  it('refuses a negative or fractional ms', async () => {
    const { registry } = setup();
    for (const ms of [-1, 1.5, '10']) {
      const error = await appErrorOf(registry.run('sleep', { ms }, context()));
      expect(error.code).toBe('invalid_tool_args');
    }
  });
});

describe('fail', () => {
  it('throws with its message', async () => {
    const { registry } = setup();
    const error = await appErrorOf(registry.run('fail', { message: 'on purpose' }, context()));
    expect([error.code, error.message]).toEqual(['tool_error', 'on purpose']);
  });
});

describe('delegate', () => {
  it('validates task and plan', async () => {
    const { registry } = setup();
    for (const args of [
      {},
      { task: '', plan: [{ tool: 'echo' }] },
      { task: 'x', plan: [] },
      { task: 'x', plan: [{ args: {} }] },
      { task: 'x', plan: [{ tool: 'echo', extra: 1 }] },
      { task: 'x', plan: [{ tool: 'echo' }], depth: 3 },
    ]) {
      const error = await appErrorOf(registry.run('delegate', args, context()));
      expect(error.code, JSON.stringify(args)).toBe('invalid_tool_args');
      expect(error.message).toContain('invalid args for delegate');
    }
  });

  it('does not run as a plain tool even with valid args', async () => {
    const { registry } = setup();
    const args = { task: 'x', plan: [{ tool: 'echo', args: { text: 'a' } }] };
    const error = await appErrorOf(registry.run('delegate', args, context()));
    expect(error.message).toBe('delegate runs as a subagent');
    expect(registry.approvalReason('delegate', args)).toBeNull();
  });
});
