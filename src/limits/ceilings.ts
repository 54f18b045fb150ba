import type { Principal } from '../auth/index.js';
import { bodyField, withBodyField } from '../canonical/body-field.js';
import type { Config, OnExceed } from '../config/index.js';
import { badRequest } from '../errors/gateway-error.js';
import type { RouteParams } from '../routing/index.js';

/** One bound on a parameter, and who set it (said in the error, so the client knows whom to ask). */
interface Ceiling {
  limit: number;
  onExceed: OnExceed;
  /** Completes "above …": "this token's ceiling of 50". */
  owner: string;
}

/** An output limit the gateway gives a body that names none, and whose it is (`Ceiling.owner`). */
export interface FilledOutput {
  limit: number;
  owner: string;
}

/** A surface's names for the bounded parameters, preferred first; `a.b` names a field inside `a`. */
export interface CeilingFields {
  maxTokens: readonly string[];
  n: readonly string[];
}

type Kind = keyof CeilingFields;
const KINDS: readonly Kind[] = ['maxTokens', 'n'];

/** Whose ceilings apply to a request: its credential, its client route and its model alias. */
export interface CeilingContext {
  principal: Principal | undefined;
  route: string;
  params: RouteParams | undefined;
  alias: string;
}

const CODES: Record<Kind, string> = { maxTokens: 'max_tokens_exceeded', n: 'n_exceeded' };

export interface CeilingResult<B> {
  body: B;
  /** `field=value` for every field lowered to a ceiling. */
  clamped: string[];
  /**
   * For a body that names no output limit: the most a limit the gateway makes for it may be, where
   * a target fills one in (Anthropic requires `max_tokens`). Other targets are sent no limit.
   */
  generatedCeiling?: number;
  /** For a body that names no output limit: the one it was given, where the alias or token has one. */
  filled?: FilledOutput;
}

/**
 * The one place request parameters meet their ceilings: the gateway's (per route), the model
 * alias's, and a token's own `maxTokens`, for every credential type. A request over a ceiling that
 * rejects is refused with 400 naming the ceiling and its value; over only clamping ones, it is
 * lowered to the tightest. A request naming no output limit gets the tighter of the alias default
 * and the token's cap, when there is one, so that a capped token never runs unbounded, and never
 * more than a ceiling: the default is the operator's, and its client asked for nothing to refuse.
 * A thinking budget counts as output: it is held below the same ceilings.
 */
export class Ceilings {
  /** The gateway's own ceilings per client route, built once: a request only adds its alias's and token's. */
  private readonly byRoute = new Map<string, Record<Kind, Ceiling>>();
  private readonly fallback: Record<Kind, Ceiling>;

  constructor(config: Config['ceilings']) {
    const gateway = (limits: { maxTokens?: number; n?: number; onExceed?: OnExceed }, owner: string) => {
      const onExceed = limits.onExceed ?? config.onExceed;
      return {
        maxTokens: { limit: limits.maxTokens ?? config.maxTokens, onExceed, owner },
        n: { limit: limits.n ?? config.n, onExceed, owner },
      };
    };
    this.fallback = gateway({}, "the gateway's ceiling");
    for (const [route, limits] of Object.entries(config.routes)) {
      if (limits) this.byRoute.set(route, gateway(limits, `the gateway's ceiling for ${route}`));
    }
  }

  apply<B extends Record<string, unknown>>(
    body: B,
    fields: CeilingFields,
    context: CeilingContext,
  ): CeilingResult<B> {
    let out: Record<string, unknown> = body;
    const set = (field: string, value: number) => {
      out = withBodyField(out, field, value);
    };
    const named = namesNumber(body, fields.maxTokens);
    const fill = named ? undefined : this.fill(context);
    if (fill) set(fields.maxTokens[0]!, fill.limit);
    const clamped: string[] = [];
    for (const kind of KINDS) {
      for (const field of fields[kind]) {
        const value = bodyField(body, field);
        if (typeof value !== 'number') continue;
        const ceiling = bound(kind, field, value, this.ceilingsFor(kind, context));
        if (ceiling === undefined) continue;
        set(field, ceiling.limit);
        clamped.push(`${field}=${ceiling.limit}`);
        const budget = kind === 'maxTokens' ? budgetUnder(body, field, value, ceiling) : undefined;
        if (budget === undefined) continue;
        set(budget.field, budget.value);
        clamped.push(`${budget.field}=${budget.value}`);
      }
    }
    for (const field of fields.maxTokens) {
      const thinking = THINKING_BUDGETS[field];
      if (thinking === undefined) continue;
      const asked = bodyField(out, thinking.field);
      if (typeof asked !== 'number') continue;
      const lowered = budgetBelow(thinking, asked, this.ceilingsFor('maxTokens', context));
      if (lowered === undefined) continue;
      set(thinking.field, lowered);
      clamped.push(`${thinking.field}=${lowered}`);
    }
    if (named) return { body: out as B, clamped };
    if (fill) return { body: out as B, clamped, filled: fill };
    return {
      body: out as B,
      clamped,
      generatedCeiling: tightest(this.ceilingsFor('maxTokens', context)).limit,
    };
  }

  /**
   * The output limit a body naming none is given: the alias's default or the token's cap, held to
   * every ceiling (the cap is one); undefined when there is neither.
   */
  private fill(context: CeilingContext): FilledOutput | undefined {
    const aliasDefault = context.params?.maxTokens?.default;
    if (aliasDefault === undefined && tokenCap(context.principal) === undefined) return undefined;
    const preferred =
      aliasDefault === undefined
        ? []
        : [
            {
              limit: aliasDefault,
              owner: `the default of the model '${context.alias}' (params.maxTokens.default)`,
            },
          ];
    const { limit, owner } = tightest([...preferred, ...this.ceilingsFor('maxTokens', context)]);
    return { limit, owner };
  }

  private ceilingsFor(kind: Kind, context: CeilingContext): Ceiling[] {
    const ceilings = [(this.byRoute.get(context.route) ?? this.fallback)[kind]];
    const { params } = context;
    const aliasMax = kind === 'maxTokens' ? params?.maxTokens?.max : params?.n?.max;
    if (aliasMax !== undefined) {
      ceilings.push({
        limit: aliasMax,
        onExceed: params?.onExceed ?? 'clamp',
        owner: `the ceiling of the model '${context.alias}'`,
      });
    }
    const cap = kind === 'maxTokens' ? tokenCap(context.principal) : undefined;
    if (cap !== undefined) ceilings.push({ limit: cap, onExceed: 'reject', owner: "this token's ceiling" });
    return ceilings;
  }
}

/** The ceiling a field is lowered to, or undefined when it is within every ceiling; throws on a rejecting one. */
function bound(kind: Kind, field: string, value: number, ceilings: readonly Ceiling[]): Ceiling | undefined {
  const refusing = ceilings.find((c) => c.onExceed === 'reject' && value > c.limit);
  if (refusing) {
    throw badRequest(
      `${field} ${value} is above ${refusing.owner} of ${refusing.limit}; ask for at most ${refusing.limit}`,
      { param: field, code: CODES[kind] },
    );
  }
  const lowest = tightest(ceilings);
  return value > lowest.limit ? lowest : undefined;
}

/**
 * Budgets carved out of an output limit, by the limit's field: Anthropic's thinking budget is part
 * of `max_tokens` and must stay below it (and at least MIN_THINKING_BUDGET), or Anthropic refuses
 * the request. Other surfaces' bodies have no such field beside their `max_tokens`.
 */
const BUDGETS: Readonly<Record<string, string>> = { max_tokens: 'thinking.budget_tokens' };
const MIN_THINKING_BUDGET = 1_024;

/**
 * The budget a clamp of `field` from `asked` to `ceiling` must lower with it, or undefined when
 * there is none or it still fits; throws when no budget Anthropic takes fits under the new limit.
 */
function budgetUnder(
  body: Record<string, unknown>,
  field: string,
  asked: number,
  { limit, owner }: Ceiling,
): { field: string; value: number } | undefined {
  const budgetField = BUDGETS[field];
  if (budgetField === undefined) return undefined;
  const budget = bodyField(body, budgetField);
  if (typeof budget !== 'number' || budget < limit) return undefined;
  if (limit - 1 < MIN_THINKING_BUDGET) {
    throw badRequest(
      `${field} ${asked} is above ${owner} of ${limit}, which leaves no room for thinking (${budgetField} must be at least ${MIN_THINKING_BUDGET} and below ${field}); ask for at most ${limit} without thinking`,
      { param: field, code: CODES.maxTokens },
    );
  }
  return { field: budgetField, value: limit - 1 };
}

/**
 * Each surface's thinking budget, by the name its bodies give the output limit (the surfaces'
 * `maxTokensFields`), with the least budget it takes. A budget is output: one at a ceiling would
 * make a target that holds it inside its output limit (Anthropic) be sent a limit above it.
 */
const THINKING_BUDGETS: Readonly<Record<string, { field: string; min: number }>> = {
  max_tokens: { field: 'thinking.budget_tokens', min: MIN_THINKING_BUDGET },
  'generationConfig.maxOutputTokens': { field: 'generationConfig.thinkingConfig.thinkingBudget', min: 1 },
};

/**
 * A thinking budget lowered to one below the tightest ceiling, or undefined when it is already
 * below them all (Gemini's -1, "as the model likes", and 0, "off", always are); throws when a
 * rejecting ceiling is reached, or when no budget the surface takes fits below a clamping one.
 */
function budgetBelow(
  { field, min }: { field: string; min: number },
  asked: number,
  ceilings: readonly Ceiling[],
): number | undefined {
  const refusing = ceilings.find((c) => c.onExceed === 'reject' && asked >= c.limit);
  if (refusing) {
    throw badRequest(
      `${field} ${asked} is not below ${refusing.owner} of ${refusing.limit} output tokens, which thinking counts in; ask for a budget below ${refusing.limit}`,
      { param: field, code: CODES.maxTokens },
    );
  }
  const { limit, owner } = tightest(ceilings);
  if (asked < limit) return undefined;
  if (limit - 1 >= min) return limit - 1;
  throw badRequest(
    `${field} ${asked} is not below ${owner} of ${limit} output tokens, which leaves no room for thinking (${field} must be at least ${min}); ask without thinking`,
    { param: field, code: CODES.maxTokens },
  );
}

/** The lowest of `bounds`, the first of equals. */
const tightest = <T extends { limit: number }>(bounds: readonly T[]): T =>
  bounds.reduce((a, b) => (b.limit < a.limit ? b : a));

/** Whether the body gives any of `fields` a number. */
function namesNumber(body: Record<string, unknown>, fields: readonly string[]): boolean {
  for (const field of fields) if (typeof bodyField(body, field) === 'number') return true;
  return false;
}

function tokenCap(principal: Principal | undefined): number | undefined {
  return principal?.kind === 'token' ? (principal.record.maxTokens ?? undefined) : undefined;
}
