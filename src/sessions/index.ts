import type { AuditSink } from '../audit/index.js';
import type { JwtVerifier } from '../auth/jwt.js';
import { durationMs } from '../auth/token-spec.js';
import type { TokenService } from '../auth/tokens.js';
import type { Config } from '../config/index.js';
import { Cors } from '../http/cors.js';
import type { SessionGrant, Store } from '../store/index.js';
import { BrowserAccess } from './browser-access.js';
import type { AuthRoutesOptions } from './routes.js';
import { SessionService } from './session-service.js';

export { BrowserAccess } from './browser-access.js';
export { SessionService } from './session-service.js';

/** Guest logins an address may make per minute: each writes a session to the store. */
const GUEST_LOGINS_PER_MINUTE = 10;

export interface Browser {
  sessions: SessionService;
  access: BrowserAccess;
  cors: Cors | undefined;
  routes: Omit<AuthRoutesOptions, 'access' | 'refuse'>;
  /** Bearer JWTs from the app's identity provider (`auth.jwt`), when configured. */
  jwt: JwtVerifier | undefined;
}

/** Sessions, CORS and guest access as configured (`server.cors`, `auth.sessions`, `auth.guest`). */
export async function browserFromConfig(
  config: Config,
  store: Store,
  pepper: Buffer,
  audit: AuditSink,
  tokens: TokenService,
): Promise<Browser> {
  const { sessions: s, guest } = config.auth;
  const guestGrant: SessionGrant | undefined = guest.enabled
    ? {
        userId: null,
        scopes: guest.scopes,
        models: guest.models ?? null,
        providers: null,
        maxTokens: null,
        templates: guest.templates ?? null,
        limits: guest.limits,
        budget: guest.budget ?? null,
        metadata: {},
        lifetimeMs: durationMs(s.refreshTtl),
      }
    : undefined;
  const sessions = new SessionService(
    store,
    pepper,
    {
      sessionTtlMs: durationMs(s.sessionTtl),
      refreshTtlMs: durationMs(s.refreshTtl),
      refreshIdleMs: durationMs(s.refreshIdle),
      graceMs: s.reuseGraceSec * 1000,
      ...(guestGrant && {
        guest: { grant: guestGrant, total: guest.total.limits, maxStored: guest.maxStored },
      }),
    },
    (id) => tokens.liveLineage(id),
  );
  tokens.onRevoked((ids) => sessions.forgetSignedInBy(ids));
  const cors = config.server.cors.origins.length > 0 ? new Cors(config.server.cors) : undefined;
  const access = new BrowserAccess(sessions, (origin) => cors?.allows(origin) ?? false);
  const routes: Browser['routes'] = { audit };
  if (guestGrant) {
    routes.guest = {
      perMinute: GUEST_LOGINS_PER_MINUTE,
      totalPerMinute: guest.total.loginsPerMinute,
      grant: guestGrant,
    };
  }
  // jose is loaded only for configured issuers: a gateway without them is about 9 MB smaller.
  const jwt =
    config.auth.jwt.length > 0
      ? new (await import('../auth/jwt.js')).JwtVerifier(config.auth.jwt, store)
      : undefined;
  return { sessions, access, cors, routes, jwt };
}
