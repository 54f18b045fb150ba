import { requireScope } from '../auth/access.js';
import type { Principal } from '../auth/index.js';

/** Whether the caller may list and run the template `name` (static client keys may run any). */
export function mayRunTemplate(principal: Principal | undefined, name: string): boolean {
  if (principal?.kind !== 'token') return true;
  const { templates } = principal.record;
  return principal.scopes.has('templates') && (templates === null || templates.includes(name));
}

export function requireTemplatesScope(principal: Principal | undefined): void {
  requireScope(principal, 'templates');
}
