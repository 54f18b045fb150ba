import type { FastifyRequest } from 'fastify';
import type { PriceTable, UsageRecorder } from '../accounting/index.js';
import { type AuditSink, recordRequest } from '../audit/index.js';
import type { Admission } from '../limits/admission.js';
import { inUtcDay, utcDayEnd } from '../limits/admission-rules.js';
import type { AlertMonitor } from '../observability/index.js';
import type { Usage } from '../providers/index.js';
import { chargeUnanswered, type InputShare } from '../upstream/index.js';

export interface RequestAccountingOptions {
  prices: PriceTable;
  usage: UsageRecorder;
  admission: Admission;
  audit: AuditSink;
  /** One `request` audit record per authenticated request (`audit.requests`). */
  auditRequests: boolean;
  alerts: AlertMonitor;
  /** Whether a model name is a configured alias, not one a client made up (`provider/model`, a wildcard's match). */
  isAlias(model: string): boolean;
}

/**
 * The model a request that failed with nothing charged is stored under (with its provider) when a
 * client chose the name: each made-up name the provider refused was a usage row of its own, kept
 * for good (10,000 names: 10,001 rows, 16.8 MB). No client can send it: an alias starts with a
 * letter or digit, and it names no provider.
 */
export const REFUSED_MODEL = '(refused)';

/** Today's UTC date (YYYY-MM-DD), recomputed only when the clock leaves the day it was computed in, either way. */
function cachedUtcDay(): () => string {
  let day = '';
  let until = 0;
  return () => {
    const now = Date.now();
    if (!inUtcDay(until, now)) {
      day = new Date(now).toISOString().slice(0, 10);
      until = utcDayEnd(now);
    }
    return day;
  };
}

/** The request log's status for a response the client left before it was complete. */
const CLIENT_CLOSED = 499;

/**
 * `usage` with its output count raised to `floor`'s where lower. The input count a stream reports
 * up front is the provider's own and exact; the body-size estimate can be far larger (an image's
 * base64), so only the output, which was still being generated, is floored, and its spoken part
 * with it where the reservation held the answer may be spoken.
 */
function atLeast(usage: Usage, floor: Usage): Usage {
  const at = { ...usage, outputTokens: Math.max(usage.outputTokens, floor.outputTokens) };
  if (floor.audioOutputTokens)
    at.audioOutputTokens = Math.max(usage.audioOutputTokens ?? 0, floor.audioOutputTokens);
  if (floor.webSearches) at.webSearches = Math.max(usage.webSearches ?? 0, floor.webSearches);
  return at;
}

function sum(usage: Usage, more: Usage): Usage {
  const total = {
    ...usage,
    inputTokens: usage.inputTokens + more.inputTokens,
    outputTokens: usage.outputTokens + more.outputTokens,
  };
  if (more.webSearches) total.webSearches = (usage.webSearches ?? 0) + more.webSearches;
  return total;
}

/**
 * The tokens of `share` of a request whose whole is estimated at `usage`, each end of the share
 * rounded up: the shares of parts that meet end to end add up to the whole exactly, so one
 * attempt at every part that got no answer costs what one at the whole request does, never more.
 */
function shareOf(usage: Usage, share: InputShare | undefined): Usage {
  if (!share) return usage;
  const of = (tokens: number) => Math.ceil(tokens * share.to) - Math.ceil(tokens * share.from);
  return { ...usage, inputTokens: of(usage.inputTokens), outputTokens: of(usage.outputTokens) };
}

/**
 * What happens once a response is over, off the client's path: the request is priced, its
 * limits settled with the real usage, its usage recorded, its summary audited and fed to the
 * anomaly monitor.
 */
export function requestAccounting(options: RequestAccountingOptions) {
  const { prices, usage, admission, audit, alerts, isAlias } = options;
  const utcDay = cachedUtcDay();

  return (request: FastifyRequest, status: number, ms: number): void => {
    const ctx = request.kw;
    // The estimate is asked for only here, where it is needed: a request nothing limits has none
    // until then (admission reserved nothing for it), and most requests report their usage.
    if (ctx.upstreamAnswered || ctx.upstreamSent) {
      // A part still out of an embeddings request sent in parts, whose client left: charged as an
      // attempt that got no answer, its share of the reservation. The parts before it reported
      // their usage.
      if (ctx.upstreamSent && ctx.share) chargeUnanswered(ctx);
      // The provider has the request but no usage came (the client left, the provider sent none,
      // or never answered): it bills it all the same, so it counts as what admission reserved.
      else if (ctx.usage === undefined)
        ctx.usage = admission.estimate(request, ctx.provider, ctx.upstreamModel);
      // Usage read from a stream before its end is provisional (Anthropic's message_start says 1
      // output token): a stream cut short counts at least the reservation. The provider bills what
      // it generated until the cut, which the gateway does not count; a larger reported count stays.
      else if (ctx.streamed && (ctx.streamError !== undefined || status === CLIENT_CLOSED)) {
        const estimate = admission.estimate(request, ctx.provider, ctx.upstreamModel);
        if (estimate) ctx.usage = atLeast(ctx.usage, estimate);
      }
    }
    let spent =
      ctx.usage && ctx.provider && ctx.upstreamModel
        ? prices.costMicros(ctx.provider, ctx.upstreamModel, ctx.usage, ctx.fast)
        : 0;
    // Attempts that failed unanswered before this one (or instead of any answer), each priced where
    // it went, at the share of the input it sent.
    const { unanswered } = ctx;
    if (unanswered) {
      for (const { provider, model, fast, share } of unanswered) {
        // As that attempt's model counts it: models count inline images differently.
        const estimate = admission.estimate(request, provider, model);
        if (!estimate) break;
        const charged = shareOf(estimate, share);
        ctx.usage = ctx.usage ? sum(ctx.usage, charged) : charged;
        if (provider && model) spent += prices.costMicros(provider, model, charged, fast);
      }
    }
    if (ctx.usage) ctx.costMicros = spent;
    admission.settle(request, ctx.usage, spent);
    const principal = ctx.principal?.kind === 'token' ? ctx.principal : undefined;
    if (principal) alerts.request(principal.tokenId, spent);
    if (options.auditRequests && ctx.principal) {
      const who = principal?.tokenId ?? ctx.principal.fingerprint;
      recordRequest(audit, who, {
        requestId: request.id,
        tokenId: who,
        ...(principal?.clientId && { clientId: principal.clientId }),
        ...(principal?.userId && { userId: principal.userId }),
        model: ctx.model ?? '',
        provider: ctx.provider ?? '',
        ...(ctx.template && { template: ctx.template }),
        status,
        inputTokens: ctx.usage?.inputTokens ?? 0,
        outputTokens: ctx.usage?.outputTokens ?? 0,
        costMicros: spent,
        durationMs: Math.round(ms),
      });
    }
    if (!ctx.provider || !ctx.model) return;
    // Counted all the same, so that request counts stay true; money keeps every real name.
    const uncharged = status >= 400 && spent === 0 && !ctx.usage?.inputTokens && !ctx.usage?.outputTokens;
    const model = uncharged && !isAlias(ctx.model) ? REFUSED_MODEL : ctx.model;
    usage.record({
      day: utcDay(),
      tokenId: principal?.tokenId ?? null,
      userId: principal?.userId ?? null,
      ...(principal?.sessionCreator && { sessionCreator: principal.sessionCreator }),
      model,
      provider: ctx.provider,
      ...(ctx.template && { template: ctx.template }),
      requests: 1,
      inputTokens: ctx.usage?.inputTokens ?? 0,
      outputTokens: ctx.usage?.outputTokens ?? 0,
      cachedTokens: ctx.usage?.cachedTokens ?? 0,
      costMicros: spent,
    });
  };
}
