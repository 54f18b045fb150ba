import type { Usage } from '../providers/index.js';

/** US dollars per million tokens. */
export interface Price {
  input: number;
  output: number;
  /** Cached input tokens (prompt cache reads); default: the input price. */
  cachedInput?: number;
  /**
   * Input tokens of audio (Gemini's and OpenAI's audio models bill them above text); default: the
   * input price. Audio read from the prompt cache is billed at this rate discounted as `cachedInput`
   * discounts `input`, as Google prices it.
   */
  audioInput?: number;
  /**
   * Output tokens of audio, a spoken answer (OpenAI's audio models bill them above text); default:
   * the output price.
   */
  audioOutput?: number;
  /** Input tokens written to the prompt cache for five minutes; default: the input price. */
  cacheWrite?: number;
  /** Input tokens written to the prompt cache for an hour; default: the five-minute price. */
  cacheWrite1h?: number;
  /**
   * The multiple of these rates the provider bills a request sent for fast processing (OpenAI's
   * `service_tier` `priority` or `fast`, Anthropic's `speed: "fast"`, Gemini's `serviceTier`
   * `priority`); none: not priced, so a credential held to a budget may not ask for it.
   */
  fast?: number;
  /**
   * US dollars per 1,000 web searches the provider's own tool runs (Anthropic's `web_search`;
   * Gemini's grounding tools, counted per search query; OpenAI's search models, one per call);
   * none: not priced, so a credential held to a budget may not offer the tool, nor use a model
   * that searches on every call.
   */
  webSearch?: number;
  /**
   * The dearer rates a prompt longer than `above` input tokens (cache reads and writes counted)
   * is billed at, as multiples: `input` of every input rate, `output` of the output rate
   * (Anthropic's 1M-token context, Gemini 2.5 Pro above 200,000 tokens).
   */
  longContext?: { above: number; input: number; output: number };
}

/** Anthropic's and Google's long-context tier: twice the input rates and 1.5 × output above 200,000 tokens. */
const LONG_CONTEXT = { above: 200_000, input: 2, output: 1.5 };

/**
 * A Claude model's prices from its input and output rates, as Anthropic derives the rest: cache
 * reads a tenth of input, cache writes 1.25 × (2 × when kept an hour), web searches $10 per 1,000.
 */
function claude(input: number, output: number): Price {
  return {
    input,
    output,
    cachedInput: input / 10,
    cacheWrite: input * 1.25,
    cacheWrite1h: input * 2,
    webSearch: 10,
  };
}

/**
 * List prices of well-known models (USD per million tokens, standard tier, published by the
 * providers in 2025). Anthropic charges prompt-cache writes 1.25 × input (2 × when kept an hour).
 * A name also matches an entry it extends by a date or version only (`gpt-4o-2024-08-06`,
 * `claude-sonnet-4-5-20250929`); a variant (`gpt-5-pro`) needs an entry of its own, since it is
 * often priced far above its base. `pricing` in the config overrides or extends these. OpenAI's
 * models that offer priority processing bill it at 1.7–2 × their rates: `fast: 2` holds each at or
 * above its own. Anthropic bills its web search tool $10 per 1,000 searches; Google bills grounding
 * with Google Search $35 per 1,000 grounded prompts on Gemini 2.x (each query is counted as one,
 * which is never less; Flash-Lite 2.0 has no grounding), and its priority tier 75 to 100 % above
 * the standard rates, naming no model's own figure (ai.google.dev/gemini-api/docs/optimization):
 * `fast: 2`, the top of that range. Gemini 2.0 Flash, 2.5 Flash and 2.5 Flash-Lite bill audio
 * input above text, image and video input (`audioInput`); 2.5 Pro and 2.0 Flash-Lite bill it as
 * text. Gemini's cache reads are as Google's pricing page lists them (2.5 Pro $0.125, 2.5 Flash
 * $0.03, 2.5 Flash-Lite $0.01, 2.0 Flash $0.025; audio from the cache follows, see `audioInput`).
 * OpenAI bills every call to a search model a search beside its tokens, at the most it has
 * published per call for the model ($50 and $30 per 1,000 for gpt-4o's and gpt-4o-mini's at
 * `search_context_size: "high"`, $10 for gpt-5's), so that no context size is charged less than it
 * costs.
 */
export const DEFAULT_PRICES: Readonly<Record<string, Price>> = {
  'gpt-5': { input: 1.25, output: 10, cachedInput: 0.125, fast: 2 },
  'gpt-5-mini': { input: 0.25, output: 2, cachedInput: 0.025, fast: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4, cachedInput: 0.005 },
  'gpt-5-pro': { input: 15, output: 120 },
  'gpt-5-codex': { input: 1.25, output: 10, cachedInput: 0.125 },
  'gpt-5-chat': { input: 1.25, output: 10, cachedInput: 0.125 },
  'gpt-4.1': { input: 2, output: 8, cachedInput: 0.5, fast: 2 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6, cachedInput: 0.1, fast: 2 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4, cachedInput: 0.025, fast: 2 },
  'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25, fast: 2 },
  // gpt-4o's first snapshot kept its launch price, twice the later ones', with no cached rate.
  'gpt-4o-2024-05-13': { input: 5, output: 15 },
  'gpt-4o-mini': { input: 0.15, output: 0.6, cachedInput: 0.075, fast: 2 },
  // Spoken answers and heard prompts at the audio rates OpenAI lists for each model.
  'gpt-4o-audio-preview': { input: 2.5, audioInput: 40, output: 10, audioOutput: 80 },
  'gpt-4o-mini-audio-preview': { input: 0.15, audioInput: 10, output: 0.6, audioOutput: 20 },
  'gpt-audio': { input: 2.5, audioInput: 32, output: 10, audioOutput: 64 },
  'gpt-4o-search-preview': { input: 2.5, output: 10, webSearch: 50 },
  'gpt-4o-mini-search-preview': { input: 0.15, output: 0.6, webSearch: 30 },
  'gpt-5-search-api': { input: 1.25, output: 10, cachedInput: 0.125, webSearch: 10 },
  o3: { input: 2, output: 8, cachedInput: 0.5, fast: 2 },
  'o3-pro': { input: 20, output: 80 },
  'o3-mini': { input: 1.1, output: 4.4, cachedInput: 0.55 },
  'o3-deep-research': { input: 10, output: 40, cachedInput: 2.5 },
  'o4-mini': { input: 1.1, output: 4.4, cachedInput: 0.275, fast: 2 },
  'o4-mini-deep-research': { input: 2, output: 8, cachedInput: 0.5 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
  // From Opus 4.5 on, Opus is a third of Opus 4 and 4.1: each needs an entry, or it would be
  // priced as the `claude-opus-4` it versions.
  'claude-opus-4-5': claude(5, 25),
  'claude-opus-4-6': claude(5, 25),
  'claude-opus-4-7': claude(5, 25),
  'claude-opus-4-8': claude(5, 25),
  'claude-opus-4': claude(15, 75),
  'claude-opus-5': claude(5, 25),
  'claude-opus-5-5': claude(4, 20),
  'claude-sonnet-5': claude(2, 10),
  'claude-sonnet-5-5': claude(2, 10),
  'claude-fable-5': claude(10, 50),
  'claude-fable-5-1': claude(10, 50),
  'claude-sonnet-4': { ...claude(3, 15), longContext: LONG_CONTEXT },
  'claude-3-7-sonnet': claude(3, 15),
  'claude-3-5-haiku': claude(0.8, 4),
  'claude-haiku-4-5': claude(1, 5),
  'gemini-2.5-pro': {
    input: 1.25,
    output: 10,
    cachedInput: 0.125,
    longContext: LONG_CONTEXT,
    webSearch: 35,
    fast: 2,
  },
  'gemini-2.5-flash': {
    input: 0.3,
    audioInput: 1,
    output: 2.5,
    cachedInput: 0.03,
    webSearch: 35,
    fast: 2,
  },
  'gemini-2.5-flash-lite': {
    input: 0.1,
    audioInput: 0.3,
    output: 0.4,
    cachedInput: 0.01,
    webSearch: 35,
    fast: 2,
  },
  'gemini-2.0-flash': {
    input: 0.1,
    audioInput: 0.7,
    output: 0.4,
    cachedInput: 0.025,
    webSearch: 35,
    fast: 2,
  },
  'gemini-2.0-flash-lite': { input: 0.075, output: 0.3, fast: 2 },
};

/** One part of what a dated or versioned name adds to its base: `-2024`, `-latest`, `@20250514`. */
const VERSION_PART = String.raw`[-@](?:\d+|latest|preview|exp)`;
/** What a dated or versioned name adds to its base: `-2024-08-06`, `-4-5-20250929`, `-preview-05-20`, `@20250514`, `-latest`. */
const VERSION_SUFFIX = new RegExp(`^(?:${VERSION_PART})+$`);
/**
 * OpenAI's search models (`gpt-4o-search-preview`, `gpt-4o-mini-search-preview`, `gpt-5-search-api`,
 * dated or not): every Chat Completions call runs a web search, billed per call beside its tokens,
 * and the answer's usage does not count it. Known by name, so that no price can leave it out.
 */
const SEARCH_MODEL = new RegExp(`-search-(?:preview|api)(?:${VERSION_PART})*$`);

/** A model's price as looked up, with the searches each call to it runs whatever its answer reports. */
interface Priced {
  price: Price;
  searchesPerCall: number;
}

/** Looks prices up by `provider/model`, then by model: the exact name, else the longest entry it versions. */
export class PriceTable {
  private prices: ReadonlyMap<string, Price> = new Map();
  private byLength: readonly string[] = [];
  /** Provider → model → price (null: none). Two levels, so a lookup builds no key string. */
  private readonly memo = new Map<string, Map<string, Priced | null>>();
  private memoized = 0;

  constructor(overrides: Readonly<Record<string, Price>> = {}) {
    this.reload(overrides);
  }

  /** Swaps in re-read `pricing` overrides (SIGHUP). */
  reload(overrides: Readonly<Record<string, Price>>): void {
    this.prices = new Map(Object.entries({ ...DEFAULT_PRICES, ...overrides }));
    this.byLength = [...this.prices.keys()].sort((a, b) => b.length - a.length);
    this.memo.clear();
    this.memoized = 0;
  }

  /**
   * The price a budget can hold the model to. None when it has no price, or when it searches on
   * every call (OpenAI's search models) and its price names no `webSearch`: each call would be
   * billed a search that costs nothing here.
   */
  find(provider: string, model: string): Price | undefined {
    const priced = this.priced(provider, model);
    if (!priced || (priced.searchesPerCall > 0 && priced.price.webSearch === undefined)) return undefined;
    return priced.price;
  }

  /**
   * Micro-dollars for a request's usage: one USD per million tokens is one micro-dollar per token.
   * Unknown models cost 0: admission refuses them to a credential held to a budget.
   */
  costMicros(provider: string, model: string, usage: Usage, fast = false): number {
    const priced = this.priced(provider, model);
    if (!priced) return 0;
    const { price } = priced;
    const rate = fast ? (price.fast ?? 1) : 1;
    const long =
      price.longContext && usage.inputTokens > price.longContext.above ? price.longContext : undefined;
    const inputRate = rate * (long?.input ?? 1);
    const cached = Math.min(usage.cachedTokens ?? 0, usage.inputTokens);
    const written = Math.min(usage.cacheCreationTokens ?? 0, usage.inputTokens - cached);
    const hour = Math.min(usage.cacheCreation1hTokens ?? 0, written);
    // Audio read from the cache is part of the cached tokens, the rest of it part of the tokens
    // neither read nor written: each billed at its audio rate in place of its text one.
    const cachedAudio = Math.min(usage.cachedAudioTokens ?? 0, usage.audioTokens ?? 0, cached);
    const freshAudio = Math.min((usage.audioTokens ?? 0) - cachedAudio, usage.inputTokens - cached - written);
    const cachedRate = price.cachedInput ?? price.input;
    const audioRate = price.audioInput ?? price.input;
    const cachedAudioRate = price.input > 0 ? (audioRate * cachedRate) / price.input : audioRate;
    const cacheWrite = price.cacheWrite ?? price.input;
    // Spoken output is part of the output tokens, billed at its audio rate in place of the text one.
    const spoken = Math.min(usage.audioOutputTokens ?? 0, usage.outputTokens);
    // A search model's call is billed its search whether or not the answer (or a reservation) says so.
    const searches = Math.max(usage.webSearches ?? 0, priced.searchesPerCall);
    return Math.round(
      inputRate *
        ((usage.inputTokens - cached - written - freshAudio) * price.input +
          freshAudio * audioRate +
          (cached - cachedAudio) * cachedRate +
          cachedAudio * cachedAudioRate +
          (written - hour) * cacheWrite +
          hour * (price.cacheWrite1h ?? cacheWrite)) +
        rate *
          (long?.output ?? 1) *
          ((usage.outputTokens - spoken) * price.output + spoken * (price.audioOutput ?? price.output)) +
        // Dollars per 1,000 searches, times 1,000: micro-dollars per search.
        searches * (price.webSearch ?? 0) * 1_000,
    );
  }

  /** Whether every call to the model runs a web search billed beside its tokens (OpenAI's search models). */
  searchesOnEveryCall(model: string): boolean {
    return SEARCH_MODEL.test(model);
  }

  /** The model's price as looked up, memoized: settlement asks for every request. */
  private priced(provider: string, model: string): Priced | undefined {
    let models = this.memo.get(provider);
    let priced = models?.get(model);
    if (priced === undefined) {
      const price = this.lookup(`${provider}/${model}`) ?? this.lookup(model);
      priced = price ? { price, searchesPerCall: SEARCH_MODEL.test(model) ? 1 : 0 } : null;
      if (this.memoized < 10_000) {
        if (!models) {
          models = new Map();
          this.memo.set(provider, models);
        }
        models.set(model, priced);
        this.memoized++;
      }
    }
    return priced ?? undefined;
  }

  private lookup(name: string): Price | undefined {
    const exact = this.prices.get(name);
    if (exact) return exact;
    const base = this.byLength.find(
      (candidate) => name.startsWith(candidate) && VERSION_SUFFIX.test(name.slice(candidate.length)),
    );
    return base === undefined ? undefined : this.prices.get(base);
  }
}
