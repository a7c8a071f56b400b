/**
 * A server entry for the passivation bench: src/main.ts as it is, plus a full garbage
 * collection on SIGUSR2 (run with --expose-gc), so memory is read without garbage that V8
 * would keep until its next collection on a quiet server.
 */
import { serve } from '../src/main.ts';

process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
await serve();
