import { addressSubject } from '../auth/address-subject.js';
import type { TokenPrincipal } from '../auth/index.js';
import type { SessionGrant, SessionRecord, TokenRecord } from '../store/index.js';

/**
 * A session speaks through the same principal shape as a gateway token, so scopes, models,
 * limits, budgets, usage and audit apply to it unchanged. Its limit and usage subject is
 * `ses_<session id>`; a guest's is `guest:<client address>`, so guest limits hold per address.
 */
function principalFor(
  session: SessionRecord,
  subject: string,
  lineage: readonly TokenRecord[] = [],
): TokenPrincipal {
  const { grant } = session;
  const record: TokenRecord = {
    id: subject,
    secretHash: '',
    name: session.guest ? 'guest session' : 'browser session',
    clientId: null,
    userId: grant.userId,
    scopes: grant.scopes,
    models: grant.models,
    providers: grant.providers,
    maxTokens: grant.maxTokens,
    templates: grant.templates,
    ipAllowlist: null,
    expiresAt: session.expiresAt,
    limits: grant.limits,
    budget: grant.budget,
    metadata: grant.metadata,
    createdBy: session.createdBy,
    createdAt: session.createdAt,
    revokedAt: null,
  };
  return {
    kind: 'token',
    fingerprint: subject,
    tokenId: subject,
    clientId: null,
    userId: grant.userId,
    scopes: new Set(grant.scopes),
    record,
    // The token that signed the session in, and those above it: their limits and budgets hold for
    // the session's requests, or minting sessions would multiply them.
    ...(lineage.length > 0 && { lineage }),
    ...(session.createdBy !== null && { sessionCreator: session.createdBy }),
  };
}

export const sessionPrincipal = (session: SessionRecord, lineage?: readonly TokenRecord[]): TokenPrincipal =>
  principalFor(session, `ses_${session.id}`, lineage);

const MAX_GUEST_ADDRESSES = 10_000;

/**
 * Guest principals: their limits and usage are counted per client address (an IPv6 client per
 * /64, which it usually holds whole), the least recently used address dropped first, but what they
 * store is owned per session: guests behind one NAT share an address, not their conversations.
 */
export class GuestPrincipals {
  private readonly byAddress = new Map<string, TokenPrincipal>();

  /**
   * `guest`: the guest grant configured now, whatever the session was opened with; the limits
   * every guest shares (subject `guests`); what one session may store.
   */
  principal(
    session: SessionRecord,
    clientIp: string,
    guest: { grant: SessionGrant; total: TokenRecord['limits']; maxStored: number },
  ): TokenPrincipal {
    const ip = addressSubject(clientIp);
    let shared = this.byAddress.get(ip);
    if (shared) {
      this.byAddress.delete(ip);
    } else {
      if (this.byAddress.size >= MAX_GUEST_ADDRESSES)
        this.byAddress.delete(this.byAddress.keys().next().value!);
      shared = {
        ...principalFor({ ...session, grant: guest.grant }, `guest:${ip}`),
        shared: { subject: 'guests', limits: guest.total },
        maxStored: guest.maxStored,
      };
    }
    this.byAddress.set(ip, shared);
    return { ...shared, owner: `session:${session.id}` };
  }
}
