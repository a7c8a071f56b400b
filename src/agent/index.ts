export * from './tool.ts';
export * from './tool-registry.ts';
export * from './ledger.ts';
export * from './builtin-tools.ts';
export * from './planner.ts';
export * from './plan-planner.ts';
export * from './command-planner.ts';
export * from './builtin-planner.ts';
