/** Who is calling: the JWT `sub`, and its roles. */
export interface Principal {
  user_id: string;
  roles: readonly string[];
  /** When the token stops being valid (ms since the epoch); absent in dev mode. */
  expires_at?: number;
}

export const APPROVER_ROLE = 'approver';

/** A session belongs to its creator; an approver may see and decide any session's approvals. */
export function canAccess(principal: Principal, owner: string): boolean {
  return principal.user_id === owner || principal.roles.includes(APPROVER_ROLE);
}

/**
 * Starting or cancelling an execution is the owner's alone: the approver role sees and decides,
 * it does not run tools in another user's session.
 */
export function canRun(principal: Principal, owner: string): boolean {
  return principal.user_id === owner;
}
