import { mkdtempSync } from 'node:fs';
import { openPgliteStore } from './src/store/pglite-store.ts';
const store = await openPgliteStore({ dataDir: mkdtempSync('/tmp/pgl/c-') });
const ev = (id: string, seq: number) => ({ type: 'tool_result', session_id: id, seq, timestamp: new Date().toISOString(), state: 'executing', execution_id: 'e', data: { call_id: 'c', tool: 't', result: { a: 1 } } }) as never;
for (let run = 0; run < 5; run++) {
  const id = 'x' + run; let s = performance.now();
  for (let i = 1; i <= 500; i++) await store.appendEvents([ev(id, i)]);
  console.log('append', ((performance.now() - s) / 500).toFixed(3), 'ms');
  s = performance.now();
  for (let i = 0; i < 500; i++) await store.lastSeq(id);
  console.log('lastSeq', ((performance.now() - s) / 500).toFixed(3), 'ms');
}
await store.close();
