import type { NodeRegistry } from './node-registry.ts';

/** What the cluster runtime needs of the node registry: who is alive, what a dead node owned. */
export type Liveness = Pick<NodeRegistry, 'isDead' | 'deadNodes' | 'sessionsOf' | 'leaseValid'>;
