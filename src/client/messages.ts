import type { z } from 'zod';
import type { inboundSchemas, InboundOf } from '../protocol/inbound.ts';

/** A plan as a caller writes it: `args` may be left out (the server fills `{}`). */
export type PlanInput = NonNullable<z.input<typeof inboundSchemas.execute>['plan']>;

type Decision = InboundOf<'approve'> | InboundOf<'reject'> | InboundOf<'edit'>;

export function executeMessage(
  id: string,
  command: string,
  plan?: PlanInput,
): InboundOf<'execute'> {
  // The wire type has `args` filled in; what is sent is checked against the schema anyway.
  const message = { type: 'execute' as const, id, command };
  return (plan === undefined ? message : { ...message, plan }) as InboundOf<'execute'>;
}

export function decisionMessage<D extends Omit<Decision, 'id'>>(
  id: string,
  decision: D,
): D & { id: string } {
  return { ...decision, id };
}
