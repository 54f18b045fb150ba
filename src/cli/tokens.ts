import { tokenView } from '../admin/tokens.js';
import { AUDIT_ACTORS, AUDIT_EVENTS, recordEvent } from '../audit/index.js';
import { parseToken, TokenService, type TokenSpec, tokenSpecSchema, WiderTokenError } from '../auth/index.js';
import type { Config } from '../config/index.js';
import { closeSpelling } from '../config/spelling.js';
import { EnvelopeError, loadSealedSecret } from '../keys/index.js';
import { Router } from '../routing/index.js';
import { describeIssue, leadingIssue, PARSE_OPTIONS } from '../surfaces/zod-issue.js';
import { CliError, type OfflineContext, print, unknownCommand } from './context.js';
import { amountFlag, durationFlag, wholeNumberFlag } from './flags.js';
import type { CliIO } from './io.js';
import { table } from './table.js';

/** The flags of `keyward tokens create`, as parseArgs gives them. */
export interface TokenFlags {
  name?: string | undefined;
  scopes?: string | undefined;
  models?: string | undefined;
  providers?: string | undefined;
  templates?: string | undefined;
  'max-tokens'?: string | undefined;
  rpm?: string | undefined;
  tpm?: string | undefined;
  concurrency?: string | undefined;
  'budget-usd'?: string | undefined;
  'budget-period'?: string | undefined;
  'expires-in'?: string | undefined;
  ip?: string | undefined;
  user?: string | undefined;
  client?: string | undefined;
  'include-revoked'?: boolean | undefined;
  json?: boolean | undefined;
}

const list = (value: string | undefined) =>
  value === undefined
    ? undefined
    : value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);
/** Where each field of the token spec comes from on the command line, for messages in flag terms. */
const FLAG_OF: Readonly<Record<string, string>> = {
  name: '--name',
  scopes: '--scopes',
  models: '--models',
  providers: '--providers',
  templates: '--templates',
  maxTokens: '--max-tokens',
  'limits.rpm': '--rpm',
  'limits.tpm': '--tpm',
  'limits.concurrency': '--concurrency',
  'budget.usd': '--budget-usd',
  'budget.period': '--budget-period',
  expiresIn: '--expires-in',
  ipAllowlist: '--ip',
  userId: '--user',
  clientId: '--client',
};

function inFlagTerms(message: string, param: string | null): string {
  const field = param?.replace(/\[\d+\]$/, '') ?? '';
  const flag = FLAG_OF[field];
  const named = flag && param ? message.replace(`'${param}'`, flag) : message;
  return named.replace('request field', 'option');
}

/** Flags → the same spec the admin API takes, checked by the same schema. */
function specFrom(flags: TokenFlags): TokenSpec {
  const limits = {
    rpm: wholeNumberFlag('rpm', flags.rpm),
    tpm: wholeNumberFlag('tpm', flags.tpm),
    concurrency: wholeNumberFlag('concurrency', flags.concurrency),
  };
  if (flags['budget-period'] !== undefined && flags['budget-usd'] === undefined)
    throw new CliError(
      '--budget-period needs --budget-usd: the amount the token may spend in that period',
      2,
    );
  const raw = {
    name: flags.name,
    scopes: list(flags.scopes),
    models: list(flags.models),
    providers: list(flags.providers),
    templates: list(flags.templates),
    maxTokens: wholeNumberFlag('max-tokens', flags['max-tokens']),
    limits: Object.values(limits).some((v) => v !== undefined) ? limits : undefined,
    budget:
      flags['budget-usd'] === undefined
        ? undefined
        : { usd: amountFlag('budget-usd', flags['budget-usd']), period: flags['budget-period'] ?? 'month' },
    expiresIn: durationFlag('expires-in', flags['expires-in']),
    ipAllowlist: list(flags.ip),
    userId: flags.user,
    clientId: flags.client,
  };
  const result = tokenSpecSchema.safeParse(JSON.parse(JSON.stringify(raw)), PARSE_OPTIONS);
  if (!result.success) {
    const { message, param } = describeIssue(leadingIssue(result.error.issues));
    throw new CliError(inFlagTerms(message, param), 2);
  }
  return result.data;
}

/**
 * What a token's `models` and `providers` name that the configuration does not have: the token is
 * created all the same (a reload may add them, and the admin API takes them too), but a misspelt
 * name would leave it refused every request with no word why.
 */
function unknownNames(spec: TokenSpec, config: Config): string[] {
  const providers = config.providers.map((p) => p.id);
  const router = new Router(config.models, new Map(providers.map((id) => [id, { id }])));
  const aliases = config.models.map((m) => m.name).filter((name) => !name.endsWith('*'));
  const hint = (name: string, names: readonly string[]) => {
    const close = closeSpelling(name, names);
    return close ? ` (did you mean ${close}?)` : '';
  };
  return [
    ...(spec.models ?? []).flatMap((name) =>
      name.includes('*')
        ? [
            `--models ${name}: a token's models are matched by name exactly, so a pattern matches none; name each model`,
          ]
        : router.peek(name) === undefined
          ? [`--models ${name}: no model of that name in the configuration${hint(name, aliases)}`]
          : [],
    ),
    ...(spec.providers ?? [])
      .filter((id) => !providers.includes(id))
      .map((id) => `--providers ${id}: no provider of that id in the configuration${hint(id, providers)}`),
  ];
}

/** `keyward tokens create|list|show|revoke`, offline against the store; the full token is printed once. */
export async function tokensCommand(
  action: string,
  args: readonly string[],
  flags: TokenFlags,
  ctx: OfflineContext,
  io: CliIO,
): Promise<number> {
  let pepper: Buffer;
  try {
    pepper = await loadSealedSecret(ctx.store, ctx.masters, 'token_pepper');
  } catch (error) {
    if (error instanceof EnvelopeError)
      throw new CliError(`master key: the store was sealed with another master key`);
    throw error;
  }
  const tokens = new TokenService(ctx.store, pepper);
  switch (action) {
    case 'create': {
      if (!flags.name) throw new CliError('--name is required', 2);
      const spec = specFrom(flags);
      for (const warning of unknownNames(spec, ctx.config)) io.stderr.write(`warning: ${warning}\n`);
      try {
        const { token, record } = await tokens.create(spec, null);
        recordEvent(ctx.audit, AUDIT_EVENTS.tokenCreated, AUDIT_ACTORS.cli, {
          tokenId: record.id,
          name: record.name,
          scopes: record.scopes,
        });
        print(
          io,
          flags.json,
          { ...tokenView(record), token },
          `${token}\n(shown once; id ${record.id}, scopes ${record.scopes.join(',')})`,
        );
      } catch (error) {
        if (error instanceof WiderTokenError) throw new CliError(error.message, 2);
        throw error;
      }
      return 0;
    }
    case 'list': {
      const records = await ctx.store.tokens.list({ includeRevoked: flags['include-revoked'] === true });
      const views = records.map(tokenView);
      const rows = views.map((v) => [
        v.id,
        v.name,
        v.scopes.join(','),
        v.revokedAt ? `revoked ${v.revokedAt}` : (v.expiresAt ?? 'never'),
      ]);
      const text = rows.length > 0 ? table(['ID', 'NAME', 'SCOPES', 'EXPIRES'], rows) : 'no tokens';
      print(io, flags.json, { tokens: views }, text);
      return 0;
    }
    case 'show':
    case 'revoke': {
      const given = args[0];
      if (!given)
        throw new CliError(`keyward tokens ${action} needs a token id (see keyward tokens list)`, 2);
      // A whole token pasted (revoking a leaked one) names its id; its secret is never printed.
      const id = parseToken(given)?.id ?? given;
      const record = await ctx.store.tokens.get(id);
      // What was given is not repeated: it may be a credential, and errors reach logs.
      if (!record) throw new CliError('no token has that id (see keyward tokens list)');
      if (action === 'revoke' && !(await tokens.revoke(id)) && record.revokedAt === null) {
        throw new CliError('no token has that id (see keyward tokens list)');
      }
      if (action === 'revoke')
        recordEvent(ctx.audit, AUDIT_EVENTS.tokenRevoked, AUDIT_ACTORS.cli, { tokenId: id });
      const view = tokenView((await ctx.store.tokens.get(id)) ?? record);
      print(io, flags.json, view, action === 'revoke' ? `revoked ${id}` : JSON.stringify(view, null, 2));
      return 0;
    }
    default:
      throw new CliError(unknownCommand(['keyward', 'tokens', action]), 2);
  }
}
