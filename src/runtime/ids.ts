import { randomUUID } from 'node:crypto';

export type IdPrefix = 'ses' | 'exec' | 'call' | 'req';

/** Opaque, unguessable ids with a readable prefix: `ses_3f2b...`. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}
