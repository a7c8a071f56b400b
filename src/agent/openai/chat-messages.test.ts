import { describe, expect, it } from 'vitest';
import { plannerInput } from '../../../test/support/planner-fixtures.ts';
import { buildConversation } from './chat-messages.ts';

describe('conversation', () => {
  it('shows a call no model turn made (a plan step) as an assistant call with its result', () => {
    const messages = buildConversation(
      plannerInput({
        command: 'go',
        history: [
          { kind: 'result', call_id: 'call_p', tool: 'echo', args: { text: 'x' }, result: 1 },
        ],
      }),
      'sys',
    );
    expect(messages).toEqual([
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'go' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_p', type: 'function', function: { name: 'echo', arguments: '{"text":"x"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_p', content: '1' },
    ]);
  });
});
