import { isGeminiFile } from '../canonical/file-reference.js';
import { audioVideoType } from '../canonical/model.js';
import { type ImageSize, imageSize } from './image-size.js';

/** Keys whose string value names content by address, fetched or read by the provider. */
const ADDRESS_KEYS = new Set(['url', 'image_url', 'file_url', 'fileUri']);
/** Keys whose string value names content the provider holds (an upload, a cache). */
const HELD_KEYS = new Set(['file_id', 'cachedContent']);
const REMOTE = /^(?:https?|gs):\/\//i;
/** A data URL's media type: `data:image/png;base64,…` → `image/png`. */
const DATA_URL = /^data:([^;,]*)/i;
/** Deeper than any surface's bodies nest content; a body nested further is refused by its schema. */
const MAX_DEPTH = 12;

/**
 * The most input tokens Anthropic's and OpenAI's models (gpt-4o-mini aside) count for one image,
 * whatever its bytes: Claude's high-resolution tier (Opus 4.7 and later, 4,784 tokens of 28-pixel
 * patches; earlier models about 1,600). OpenAI's other models count at most 3,779 (1,536
 * patches × 2.46, gpt-4.1-nano's multiplier; tile models 1,445).
 */
export const IMAGE_TOKENS = 4_784;
/**
 * gpt-4o-mini's most for one image at high detail (2,833 tokens, and 5,667 for each of at most 8
 * tiles of 512 pixels): its count is inflated 33 times so that, at its low price, an image costs
 * what it costs on gpt-4o.
 */
const GPT_4O_MINI_IMAGE_TOKENS = 2_833 + 8 * 5_667;
/** gpt-4o-mini and its snapshots, bare, under a prefix (`openai/gpt-4o-mini`) or fine-tuned (`ft:gpt-4o-mini…`). */
const GPT_4O_MINI = /(?:^|[/:])gpt-4o-mini/i;

/**
 * The most input tokens a model of a provider of `type` counts for one image carried inline, by
 * the provider's type (a model's name says nothing sure: an OpenAI-compatible server may serve a
 * Llama as `o1-custom`): Anthropic's models, and OpenAI's by name (gpt-4o-mini's count is
 * inflated); an Azure deployment of any name, at OpenAI's most. Unbounded (the context window is
 * then reserved) for every other type: Gemini counts by the image's size (`geminiImageTokens`),
 * and OpenAI-compatible servers and Ollama count their own way (Together's Llama vision up to
 * 6,404).
 */
export function imageTokens(type: string | undefined, model: string): number {
  switch (type) {
    case 'anthropic':
      return IMAGE_TOKENS;
    case 'openai':
      return GPT_4O_MINI.test(model) ? GPT_4O_MINI_IMAGE_TOKENS : IMAGE_TOKENS;
    case 'azure-openai':
      return GPT_4O_MINI_IMAGE_TOKENS;
    default:
      return Number.POSITIVE_INFINITY;
  }
}

/** Gemini 3's most for one image: `media_resolution` ultra high, which a part may ask for. */
const GEMINI_IMAGE_TOKENS = 2_240;
/** Gemini 2's count: one tile for an image of at most 384 pixels a side, else one per 768-pixel tile. */
const GEMINI_TILE_TOKENS = 258;

/**
 * The most input tokens a Gemini model counts for an image of `size`: Gemini 2's tiles (a 4,000 ×
 * 3,000 photo is 24 of them, 6,192 tokens), at least Gemini 3's most. Unbounded when the size is
 * not known (a format whose header is not read, an animation).
 */
export function geminiImageTokens(size: ImageSize | undefined): number {
  if (size === undefined) return Number.POSITIVE_INFINITY;
  const { width, height } = size;
  const tiles = width <= 384 && height <= 384 ? 1 : Math.ceil(width / 768) * Math.ceil(height / 768);
  return Math.max(GEMINI_IMAGE_TOKENS, tiles * GEMINI_TILE_TOKENS);
}

/**
 * What a request's images count at Gemini, once worked out: each Gemini target that may serve it,
 * and each attempt charged its estimate, asks again, and each time every image's head was decoded.
 */
const geminiTokensOf = new WeakMap<MediaWeight, number>();

/**
 * The most input tokens the inline images of `media` count at a model of a provider of `type`:
 * each at the type's figure (`imageTokens`), or at Gemini by its own size.
 */
export function imagesTokens(media: MediaWeight, type: string | undefined, model: string): number {
  if (media.imageData.length === 0) return 0;
  if (type !== 'gemini') return media.imageData.length * imageTokens(type, model);
  let tokens = geminiTokensOf.get(media);
  if (tokens === undefined) {
    tokens = 0;
    for (const data of media.imageData) tokens += geminiImageTokens(imageSize(data));
    geminiTokensOf.set(media, tokens);
  }
  return tokens;
}

/**
 * What a piece of input costs that its bytes do not tell: `remote`, named by address or id and
 * costing what the provider reads; `media`, carried inline and counted by pages, frames or seconds
 * (a compressed PDF page of a few bytes is hundreds of tokens); `sound`, such media that may hold
 * audio (audio, video, or of no named type), which some models bill above text; `image`, carried
 * inline and counted per image (`imagesTokens`). Text, inline or not, counts at most a token a byte.
 */
type Weight = 'remote' | 'media' | 'sound' | 'image';

/** How a provider counts inline content of `type` (a MIME type; undefined when none is named). */
function inlineWeight(type: unknown): Weight | undefined {
  if (typeof type !== 'string') return 'sound';
  const lower = type.toLowerCase();
  if (lower.startsWith('text/')) return undefined;
  if (lower.startsWith('image/')) return 'image';
  return audioVideoType(lower) === undefined ? 'media' : 'sound';
}

/**
 * The weight of one key and value of a body, by the surfaces' key names (not their shapes, so it
 * holds for every surface and wire format): an http(s) or gs address or a data URL under an address
 * key, a file id or cache name, MCP servers, OpenAI's `file_data` and `input_audio`, Anthropic's
 * base64 `source`, Gemini's `inlineData`.
 */
function weightOf(key: string, inner: unknown): Weight | undefined {
  if (typeof inner === 'string') {
    if (ADDRESS_KEYS.has(key)) {
      // Gemini also names an upload bare (`files/abc`), as its own Files API lists it.
      if (REMOTE.test(inner) || (key === 'fileUri' && inner.startsWith('files/'))) return 'remote';
      const data = DATA_URL.exec(inner);
      return data ? inlineWeight(data[1]) : undefined;
    }
    if (HELD_KEYS.has(key)) return inner === '' ? undefined : 'remote';
    // A file's data URL (OpenAI's chat `file` and Responses' `input_file`); bare base64 names no type.
    if (key === 'file_data') return inlineWeight(DATA_URL.exec(inner)?.[1]);
    return undefined;
  }
  if (typeof inner !== 'object' || inner === null) return undefined;
  if (key === 'mcp_servers') return Array.isArray(inner) && inner.length > 0 ? 'remote' : undefined;
  if (key === 'input_audio') return 'sound';
  if (key === 'inlineData') return inlineWeight((inner as { mimeType?: unknown }).mimeType);
  if (key === 'source') {
    const source = inner as { type?: unknown; media_type?: unknown };
    return source.type === 'base64' ? inlineWeight(source.media_type) : undefined;
  }
  return undefined;
}

/**
 * Keys whose values are no content the provider reads as media, whatever keys they hold: tool
 * definitions and their JSON schemas, answer schemas (Chat's `response_format`, Responses'
 * `text.format`, Anthropic's `output_config`/`output_format`, Gemini's `generationConfig`), and a
 * tool call's arguments (OpenAI's `arguments`, Gemini's `functionCall`). A schema with a property
 * named `input_audio`, or a save-file call's `file_data`, is text; weighed as media, it reserved
 * the whole window on every turn of an agent loop. Tool results are content, and are walked.
 */
const NOT_CONTENT = new Set([
  'tools',
  'functions',
  'parameters',
  'input_schema',
  'functionDeclarations',
  'toolConfig',
  'tool_config',
  'response_format',
  'text',
  'output_config',
  'output_format',
  'generationConfig',
  'generation_config',
  'responseSchema',
  'arguments',
  'functionCall',
  'function_call',
]);
/** Blocks whose `input` is a tool call's arguments, not content (elsewhere `input` is a request's content). */
const TOOL_CALLS = new Set(['tool_use', 'server_tool_use', 'mcp_tool_use']);

/**
 * Whether `test` holds for some key and value of `value`'s objects, at any depth up to MAX_DEPTH,
 * outside the positions that are not content.
 */
function anyEntry(
  value: unknown,
  test: (key: string, inner: unknown, holder: Holder) => boolean,
  depth = 0,
  owner = '',
): boolean {
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some((item) => anyEntry(item, test, depth + 1, owner));
  const object = value as Record<string, unknown>;
  const { type } = object;
  const toolCall = typeof type === 'string' && TOOL_CALLS.has(type);
  const holder = { object, owner };
  for (const [key, inner] of Object.entries(object)) {
    if (NOT_CONTENT.has(key) || (toolCall && key === 'input')) continue;
    if (test(key, inner, holder) || anyEntry(inner, test, depth + 1, key)) return true;
  }
  return false;
}

/** The object a key and value are in, and the key it is under in its own holder. */
interface Holder {
  object: Record<string, unknown>;
  owner: string;
}

/**
 * Whether input named by address or id (`weightOf` says `remote`) may be audio, which some models
 * bill above text: not a web image by URL (Chat's `image_url.url`, Responses' `image_url`), not
 * Anthropic's web URL source (an image or a PDF), not Gemini's `fileData` of a stated type other
 * than audio or video; any other may be: a file id, a `file_url`, an untyped `fileUri`, a cache,
 * and a file Gemini holds under any key, which reaches Gemini untyped and is read by the type it
 * was uploaded with.
 */
function mayBeAudio(key: string, address: unknown, { object, owner }: Holder): boolean {
  if (key === 'fileUri' && typeof object.mimeType === 'string')
    return inlineWeight(object.mimeType) === 'sound';
  if (typeof address === 'string' && isGeminiFile(address)) return true;
  return !(key === 'image_url' || owner === 'image_url' || owner === 'source');
}

/**
 * Whether a body holds input whose tokens its bytes do not bound: named by address or id (an image
 * or PDF by URL, an uploaded file, a Gemini cache or video, MCP servers), costing what the
 * provider reads, or media carried inline (an image, a PDF, audio or video, on any surface), which
 * a provider counts by pages, frames and image tiles (a compressed PDF page of a few bytes is
 * hundreds of tokens). One walk, ending at the first such input.
 */
export function weighsBeyondBytes(value: unknown): boolean {
  return anyEntry(value, (key, inner) => weightOf(key, inner) !== undefined);
}

/** What a budget weighs of a request's input besides its bytes. */
export interface MediaWeight {
  /**
   * Some input's tokens have no bound the request shows: named by address or id, or media other
   * than images carried inline (a PDF, audio, video). Such input may fill the context window.
   */
  unbounded: boolean;
  /**
   * Some of that input may be audio, which some models bill above text (Gemini's Flash models,
   * OpenAI's audio models): audio or video carried inline, media of no named type, or input named
   * by address or id. Any of the input may then be.
   */
  audio: boolean;
  /**
   * The base64 data of the images carried inline (all of them, unless `unbounded`), each counted as
   * `imagesTokens` says.
   */
  imageData: string[];
  /**
   * The characters those images' data takes in the body (base64 or a data URL): counted by the
   * image, not as text, so left out of the bytes a budget weighs as text.
   */
  imageBytes: number;
}

/** An inline image's data as it stands in the body: a data URL, or a source's or inlineData's `data`. */
function dataOf(inner: unknown): string {
  if (typeof inner === 'string') return inner;
  const data = (inner as { data?: unknown }).data;
  return typeof data === 'string' ? data : '';
}

/** The base64 of a data URL (after its comma), or data that is base64 already. */
const base64Of = (data: string): string =>
  data.startsWith('data:') ? data.slice(data.indexOf(',') + 1) : data;

/**
 * The media of `values` (a body, and any input sent that it does not carry, such as a stored
 * history replayed), as a budget weighs it. The walk stops at the first input that may be audio:
 * nothing after it changes the weight.
 */
export function mediaWeight(values: readonly unknown[]): MediaWeight {
  const imageData: string[] = [];
  let imageBytes = 0;
  let media = false;
  const audio = values.some((value) =>
    anyEntry(value, (key, inner, holder) => {
      const weight = weightOf(key, inner);
      if (weight === 'image') {
        const data = dataOf(inner);
        imageData.push(base64Of(data));
        imageBytes += data.length;
      }
      if (weight === 'remote' && !mayBeAudio(key, inner, holder)) media = true;
      else if (weight === 'media') media = true;
      else return weight === 'remote' || weight === 'sound';
      return false;
    }),
  );
  return { unbounded: audio || media, audio, imageData, imageBytes };
}
