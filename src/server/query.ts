import type { z } from 'zod';
import { AppError } from '../errors.ts';

/** A query string through its schema; the first issue becomes a 400 `invalid_query`. */
export function parseQuery<T extends z.ZodType>(schema: T, query: URLSearchParams): z.output<T> {
  const parsed = schema.safeParse(Object.fromEntries(query));
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.join('.') || 'query';
  throw new AppError('invalid_query', `${where}: ${issue?.message ?? 'invalid'}`, 400);
}
