import { AppError } from '../errors.ts';

export interface Ledger {
  balance(account: string): number;
  transfer(from: string, to: string, amount: number): { from_balance: number; to_balance: number };
  /** How many transfers ran: what tests use to prove one never runs twice. */
  transfers(): number;
}

export const DEMO_BALANCES: Readonly<Record<string, number>> = {
  operating: 1_000_000,
  alice: 1_000,
  bob: 500,
  carol: 250,
};

/** The demo ledger the built-in tools move money in (process memory, whole cents avoided). */
export function createLedger(initial: Readonly<Record<string, number>> = DEMO_BALANCES): Ledger {
  const balances = new Map(Object.entries(initial));
  let count = 0;
  return {
    balance(account) {
      const value = balances.get(account);
      if (value === undefined)
        throw new AppError('unknown_account', `unknown account "${account}"`);
      return value;
    },
    transfer(from, to, amount) {
      const source = this.balance(from);
      if (source < amount) {
        throw new AppError('insufficient_funds', `${from} has ${source}, cannot send ${amount}`);
      }
      const target = balances.get(to) ?? 0;
      balances.set(from, source - amount);
      balances.set(to, target + amount);
      count += 1;
      return { from_balance: source - amount, to_balance: target + amount };
    },
    transfers: () => count,
  };
}
