export * from './openai-planner.ts';
export type { Sleep } from './retry.ts';
