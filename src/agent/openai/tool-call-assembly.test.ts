import { describe, expect, it } from 'vitest';
import { createToolCallAssembler } from './tool-call-assembly.ts';

describe('tool call assembly', () => {
  it('joins fragments by index, in the order the calls started', () => {
    const assembler = createToolCallAssembler();
    assembler.add({ index: 1, id: 'b', function: { name: 'echo', arguments: '{"te' } });
    assembler.add({ index: 0, id: 'a', function: { name: 'get_', arguments: '' } });
    assembler.add({ index: 0, function: { name: 'balance', arguments: '{}' } });
    assembler.add({ index: 1, function: { arguments: 'xt":"b"}' } });
    expect(assembler.calls()).toEqual([
      { id: 'b', name: 'echo', arguments: '{"text":"b"}' },
      { id: 'a', name: 'get_balance', arguments: '{}' },
    ]);
  });

  it('starts a new call when a new id comes at an index in use, and takes a late id', () => {
    const assembler = createToolCallAssembler();
    assembler.add({ index: 0, function: { name: 'echo', arguments: '{"text":"a"}' } });
    assembler.add({ index: 0, id: 'late' });
    assembler.add({ index: 0, id: 'late', function: { name: 'echo' } });
    assembler.add({ index: 0, id: 'other', function: { name: 'echo', arguments: { text: 'b' } } });
    expect(assembler.calls()).toEqual([
      { id: 'late', name: 'echo', arguments: '{"text":"a"}' },
      { id: 'other', name: 'echo', arguments: { text: 'b' } },
    ]);
  });

  it('treats a missing index as 0 and drops empty calls', () => {
    const assembler = createToolCallAssembler();
    assembler.add({ id: 'x', function: { name: 'echo' } });
    assembler.add({ function: { arguments: '{}' } });
    assembler.add({ index: 3 });
    expect(assembler.calls()).toEqual([{ id: 'x', name: 'echo', arguments: '{}' }]);
  });
});
