import { z } from 'zod';
import { planStepSchema } from '../../machines/session.events.ts';
import { AppError } from '../errors.ts';
import { createLedger, type Ledger } from './ledger.ts';
import { abortError, defineTool, type ToolDefinition } from './tool.ts';
import type { ApprovalPolicyInput } from '../../machines/session.policy.ts';

/** Transfers above this amount wait for a human. */
export const TRANSFER_APPROVAL_LIMIT = 100;
/** Transfers above this amount need two approvers, neither of them the requester. */
export const TRANSFER_FOUR_EYES_LIMIT = 10_000;

/** The demo four-eyes policy: two approvers, not the requester; once to a finance lead on expiry. */
export const FOUR_EYES_POLICY = {
  quorum: 2,
  roles: ['approver'],
  exclude_requester: true,
  escalate: { to: 'finance_lead', times: 1 },
} as const satisfies ApprovalPolicyInput;
const MAX_SLEEP_MS = 10 * 60_000;

const account = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9_-]+$/i, 'letters, digits, _ and - only');

/**
 * The demo tools (`echo`, `get_balance`, `transfer`, `sleep`, `fail`, `delegate`) as an opt-in
 * set; `transfer` and `get_balance` work on `ledger` (a fresh demo ledger by default).
 */
export function builtinTools(ledger: Ledger = createLedger()): ToolDefinition[] {
  return createBuiltinTools(ledger);
}

export function createBuiltinTools(ledger: Ledger): ToolDefinition[] {
  return [
    defineTool({
      name: 'echo',
      description: 'Returns the text it is given.',
      args: z.strictObject({ text: z.string().max(10_000) }),
      needsApproval: false,
      idempotent: true,
      run: ({ text }) => Promise.resolve({ text }),
    }),
    defineTool({
      name: 'get_balance',
      description: 'Reads an account balance from the demo ledger.',
      args: z.strictObject({ account: account.default('operating') }),
      needsApproval: false,
      idempotent: true,
      run: ({ account: name }) => Promise.resolve({ account: name, balance: ledger.balance(name) }),
    }),
    defineTool({
      name: 'transfer',
      description: `Moves money in the demo ledger. Needs approval above ${TRANSFER_APPROVAL_LIMIT}.`,
      args: z.strictObject({
        to: account,
        amount: z.number().positive().max(1_000_000_000).finite(),
        currency: z.string().regex(/^[A-Z]{3}$/, 'a three-letter ISO code such as USD'),
        from: account.default('operating'),
      }),
      needsApproval: ({ amount, currency, to }) =>
        amount > TRANSFER_APPROVAL_LIMIT
          ? `transfer of ${amount} ${currency} to ${to} is above the ${TRANSFER_APPROVAL_LIMIT} ${currency} limit`
          : null,
      // Above 100 one vote by the owner or an approver (the default); above 10,000 four eyes.
      approvalPolicy: ({ amount }) =>
        amount > TRANSFER_FOUR_EYES_LIMIT
          ? { ...FOUR_EYES_POLICY, roles: [...FOUR_EYES_POLICY.roles] }
          : null,
      idempotent: false,
      run: ({ from, to, amount, currency }) => {
        if (from === to)
          throw new AppError('invalid_tool_args', 'cannot transfer to the same account');
        const balances = ledger.transfer(from, to, amount);
        return Promise.resolve({ from, to, amount, currency, ...balances });
      },
    }),
    defineTool({
      name: 'sleep',
      description: 'Waits for ms milliseconds; stops at once when cancelled.',
      args: z.strictObject({ ms: z.number().int().min(0).max(MAX_SLEEP_MS) }),
      needsApproval: false,
      idempotent: true,
      run: ({ ms }, { signal }) =>
        new Promise((resolve, reject) => {
          if (signal.aborted) return reject(abortError(signal));
          const started = Date.now();
          const timer = setTimeout(() => {
            signal.removeEventListener('abort', onAbort);
            resolve({ slept_ms: Date.now() - started });
          }, ms);
          const onAbort = () => {
            clearTimeout(timer);
            reject(abortError(signal));
          };
          signal.addEventListener('abort', onAbort, { once: true });
        }),
    }),
    defineTool({
      name: 'fail',
      description: 'Always throws: for error paths.',
      args: z.strictObject({ message: z.string().max(2_000).default('the fail tool failed') }),
      needsApproval: false,
      idempotent: true,
      run: ({ message }) => Promise.reject(new AppError('tool_error', message)),
    }),
    defineTool({
      name: 'delegate',
      description: 'Runs a subagent with its own plan; its approvals surface on this session.',
      args: z.strictObject({
        task: z.string().min(1).max(2_000),
        plan: z.array(planStepSchema).min(1).max(100),
      }),
      needsApproval: false,
      idempotent: true,
      // The session machine runs valid delegate calls as a subagent child actor; this runs
      // only when it could not, and says why.
      run: () => Promise.reject(new AppError('invalid_tool_args', 'delegate runs as a subagent')),
    }),
  ];
}
