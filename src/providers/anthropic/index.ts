import { type ChatRequest, UnsupportedFeature } from '../../canonical/model.js';
import type { ProviderConfig } from '../../config/index.js';
import type { SecretString } from '../../keys/index.js';
import { baseHeaders, basePath } from '../openai/index.js';
import type { CallOptions, ChatCodec, ProviderAdapter, UpstreamCall } from '../types.js';
import { tokenCount } from '../wire-values.js';
import {
  anthropicDefaultOutput,
  decodeAnthropicResponse,
  encodeAnthropicRequest,
  readAnthropicUsage,
} from './codec.js';
import {
  allowedFeatures,
  type BetaGate,
  ofFeatures,
  passthroughBody,
  refuseWithoutBeta,
  withoutUntakenTemperature,
} from './passthrough.js';
import { AnthropicStreamDecoder } from './stream.js';

export const API_VERSION = '2023-06-01';

/**
 * `anthropic-beta` flags clients may pass on without the operator naming them: each changes only
 * how the answer is produced, cached or reported, or which blocks and fields the API takes, never
 * whose data or account is used (unlike, say, the Files API, whose file ids reach into the
 * provider account's uploads) and never what is billed beyond what the gateway charges (the
 * advisor tool and compaction run sub-requests it does not charge yet). Claude Code sends most of
 * these on every request. A body field that needs a flag the client asked for and this list leaves
 * out is refused (`refuseWithoutBeta`), by flag family, so a newer version of a flag is no way
 * around it; a gated feature's field is refused unless the operator allowed the feature, flag or
 * no flag.
 */
const DEFAULT_ALLOWED_BETAS: readonly string[] = [
  'claude-code-20250219',
  'interleaved-thinking-2025-05-14',
  'fine-grained-tool-streaming-2025-05-14',
  'prompt-caching-2024-07-31',
  // `cache_control.scope`: who may read a cache entry, nothing else.
  'prompt-caching-scope-2026-01-05',
  'token-efficient-tools-2025-02-19',
  'output-128k-2025-02-19',
  'context-1m-2025-08-07',
  'extended-cache-ttl-2025-04-11',
  'context-management-2025-06-27',
  // `role: "system"` messages inside the conversation.
  'mid-conversation-system-2026-04-07',
  // `diagnostics`: why the prompt cache missed against an earlier answer of the same account,
  // which every client of the gateway already shares through the cache itself.
  'cache-diagnosis-2026-04-07',
  // Tool search over the request's own tools, `defer_loading`, `input_examples`, `allowed_callers`.
  'advanced-tool-use-2025-11-20',
  'structured-outputs-2025-11-13',
  'structured-outputs-2025-12-15',
  'effort-2025-11-24',
  // `speed: "fast"`, which admission prices (or refuses to a budget) as fast processing.
  'fast-mode-2026-02-01',
  'token-counting-2024-11-01',
  'pdfs-2024-09-25',
  // `output_config.task_budget`: an advisory budget the model paces itself against.
  'task-budgets-2026-03-13',
  // The computer tool: the model asks for actions, the client performs them.
  'computer-use-2025-01-24',
  'computer-use-2025-11-24',
  // `thinking.display: "updates"` and `thinking.block_binding`: how thinking is shown and replayed.
  'thinking-display-updates-2026-08-18',
  'thinking-binding-controls-2026-08-01',
  // `clear_at` and `output_config` on system messages, tool additions and removals inside the
  // conversation, tools defined there: the request's own instructions and tools.
  'mid-conversation-system-clear-at-2026-08-21',
  'mid-conversation-output-config-2026-07-01',
  'mid-conversation-tool-changes-2026-07-01',
  'inline-tools-2026-09-15',
  // `fallback_credit_token`: a retry after a refusal billed at the cache-read rate, never more.
  'fallback-credit-2026-06-01',
  'fallback-credit-2026-07-01',
];

const MESSAGES = '/messages';
const COUNT_TOKENS = '/messages/count_tokens';

/**
 * Anthropic's Messages API. `baseUrl` is like `https://api.anthropic.com/v1`. The key goes in
 * `x-api-key`; beta flags the client asked for go on only where the allowlist (built in, plus the
 * provider's `allowedBetas` and every flag of its `allowedFeatures`) names them, and the gated
 * features' fields only where the operator allowed them, so a client cannot switch on features
 * the operator has not agreed to.
 */
export function createAnthropicAdapter(config: ProviderConfig): ProviderAdapter {
  const prefix = basePath(config);
  const listed = new Set([...DEFAULT_ALLOWED_BETAS, ...config.allowedBetas]);
  const ofAllowedFeature = ofFeatures(config.allowedFeatures);
  const allowed = (flag: string): boolean => listed.has(flag) || ofAllowedFeature(flag);
  const features = allowedFeatures(config.allowedFeatures, config.allowedBetas);
  const base = { ...baseHeaders(config), 'anthropic-version': API_VERSION };

  /** The flags the client asked for that the allowlist names, once each. */
  const sent = (options: CallOptions | undefined): string[] => [...new Set(options?.betas?.filter(allowed))];
  /** The flags the client asked for that the allowlist leaves out. */
  const dropped = (options: CallOptions | undefined): string[] =>
    options?.betas?.filter((flag) => !allowed(flag)) ?? [];
  const gate = (options: CallOptions | undefined): BetaGate => ({
    sent: sent(options),
    dropped: dropped(options),
    features,
    provider: config.id,
  });

  function headers(key: SecretString | undefined, options: CallOptions | undefined): Record<string, string> {
    const betas = sent(options);
    return {
      ...base,
      ...(key && { 'x-api-key': key.reveal() }),
      ...(betas.length > 0 && { 'anthropic-beta': betas.join(',') }),
    };
  }

  /**
   * A translated request's body, held to the gate a native one is (`refuseWithoutBeta`): another
   * format's client can name an Anthropic file id too.
   */
  function gated(request: ChatRequest, options: CallOptions | undefined, countTokens: boolean): string {
    const body = encodeAnthropicRequest(request, { countTokens });
    refuseWithoutBeta(body, gate(options));
    return JSON.stringify(body);
  }

  const chat: ChatCodec = {
    encodeRequest: (request) => ({
      path: prefix + MESSAGES,
      body: JSON.stringify(encodeAnthropicRequest(request, {})),
    }),
    decodeResponse: decodeAnthropicResponse,
    streamDecoder: () => new AnthropicStreamDecoder(),
  };

  return {
    type: config.type,
    format: 'anthropic',
    requiresKey: true,
    chat,
    defaultOutput: anthropicDefaultOutput,
    readUsage: readAnthropicUsage,
    /**
     * The body is a validated Messages (or count_tokens) body: the routed model replaces the
     * client's, and unsigned thinking is left out (see `passthroughBody`).
     */
    buildCall(operation, model, body, key, options): UpstreamCall {
      if (operation === 'embeddings')
        throw new UnsupportedFeature('Anthropic does not offer embeddings', 'model');
      refuseWithoutBeta(body, gate(options));
      return {
        path: prefix + (operation === 'count_tokens' ? COUNT_TOKENS : MESSAGES),
        headers: headers(key, options),
        body: passthroughBody(options?.temperatureIsDefault ? withoutUntakenTemperature(body) : body, model),
      };
    },
    buildChatCall(request, key, options): UpstreamCall {
      return {
        path: prefix + MESSAGES,
        headers: headers(key, options),
        body: gated(request, options, false),
      };
    },
    buildCountTokensCall(request, key, options): UpstreamCall {
      return {
        path: prefix + COUNT_TOKENS,
        headers: headers(key, options),
        body: gated(request, options, true),
      };
    },
    readTokenCount(payload) {
      return tokenCount((payload as { input_tokens?: unknown } | null)?.input_tokens);
    },
  };
}
