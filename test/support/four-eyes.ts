/** The stored events of one four-eyes transfer, from request to completion: two votes, one decision. */
export const FOUR_EYES_FLOW = [
  'thinking',
  'approval_required',
  'approval_vote',
  'approval_vote',
  'approved',
  'tool_call',
  'tool_result',
  'complete',
] as const;
