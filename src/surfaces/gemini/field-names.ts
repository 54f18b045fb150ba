import { badRequest } from '../../errors/gateway-error.js';
import { isRecord } from '../../providers/index.js';
import { BUILT_IN_TOOLS, GEMINI_ONLY_SETTINGS } from './schema.js';

/**
 * Google's REST API takes a field by its proto name (`generation_config`, which the ai.google.dev
 * curl examples use) as well as by its JSON name (`generationConfig`, what the SDKs send). Bodies
 * are brought to the JSON names before they are checked, along the structure of the request:
 * a message's known fields, walked into where they are messages themselves. A `Schema` (a
 * function's `parameters` and `response`, `responseSchema`) is a message too, so `any_of` and
 * `min_items` are taken in it, but its `properties` are named by the client. What the client
 * writes freely (function `args`, a function call's `response`, `parametersJsonSchema` and
 * `responseJsonSchema`, `labels`, built-in tools' settings) is never a message here, so its keys
 * stay as they were.
 */

/** A message: its fields by JSON name, each a message, a map of them, or `VALUE` (left as sent). */
interface Message {
  readonly [field: string]: Message | MapOf | typeof VALUE;
}
const VALUE = 'value';

/** A map field: its keys are the client's names, its values messages. */
class MapOf {
  constructor(readonly value: Message) {}
}

const each = (names: readonly string[]): Message => Object.fromEntries(names.map((name) => [name, VALUE]));

/** Google's `Schema`: the fields whose proto names differ from their JSON names, and where it nests. */
const schema: Record<string, Message | MapOf | typeof VALUE> = {
  ...each([
    'maxItems',
    'minItems',
    'maxLength',
    'minLength',
    'maxProperties',
    'minProperties',
    'propertyOrdering',
  ]),
};
schema.anyOf = schema;
schema.items = schema;
schema.properties = new MapOf(schema);

const blob: Message = { mimeType: VALUE, displayName: VALUE };
const fileData: Message = { fileUri: VALUE, mimeType: VALUE, displayName: VALUE };

const part: Message = {
  thoughtSignature: VALUE,
  inlineData: blob,
  fileData,
  functionCall: { partialArgs: VALUE, willContinue: VALUE },
  functionResponse: {
    willContinue: VALUE,
    parts: { inlineData: blob, fileData, mediaProcessing: VALUE },
  },
  ...each([
    'executableCode',
    'codeExecutionResult',
    'videoMetadata',
    'mediaResolution',
    'partMetadata',
    'toolCall',
    'toolResponse',
    'audioTranscription',
    'mediaProcessing',
    'speechMetadata',
  ]),
};

const content: Message = { parts: part };

const generateContent: Message = {
  contents: content,
  systemInstruction: content,
  tools: {
    functionDeclarations: {
      parameters: schema,
      response: schema,
      parametersJsonSchema: VALUE,
      responseJsonSchema: VALUE,
    },
    ...each(BUILT_IN_TOOLS),
  },
  toolConfig: {
    functionCallingConfig: { allowedFunctionNames: VALUE },
    retrievalConfig: VALUE,
    includeServerSideToolInvocations: VALUE,
  },
  safetySettings: {},
  generationConfig: {
    ...each([
      'candidateCount',
      'maxOutputTokens',
      'topP',
      'topK',
      'presencePenalty',
      'frequencyPenalty',
      'stopSequences',
      'responseMimeType',
      'responseJsonSchema',
      'responseModalities',
    ]),
    responseSchema: schema,
    thinkingConfig: each(['includeThoughts', 'thinkingBudget', 'thinkingLevel']),
    ...each(GEMINI_ONLY_SETTINGS),
  },
  ...each(['cachedContent', 'serviceTier', 'continuationToken']),
};

const embedContent: Message = { content, taskType: VALUE, outputDimensionality: VALUE };

/** The requests whose field names are brought to their JSON form. */
export const GEMINI_REQUESTS = {
  generateContent,
  countTokens: { contents: content, generateContentRequest: generateContent },
  embedContent,
  batchEmbedContents: { requests: embedContent },
} satisfies Record<string, Message>;

const jsonName = (field: string): string =>
  field.includes('_') ? field.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase()) : field;

/**
 * The body with its known fields under their JSON names; the same object when it has none to
 * rename. A body that names one field both ways is refused: which one was meant is a guess.
 */
export function withJsonNames(body: unknown, message: Message): unknown {
  return renamed(body, message, '');
}

function renamed(value: unknown, message: Message, path: string): unknown {
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((item, i) => {
      const next = renamed(item, message, `${path}[${i}]`);
      if (next === item) return;
      out ??= [...value];
      out[i] = next;
    });
    return out ?? value;
  }
  if (!isRecord(value)) return value;
  const at = (field: string) => (path ? `${path}.${field}` : field);
  let out: Record<string, unknown> | undefined;
  for (const [field, inner] of Object.entries(value)) {
    const name = jsonName(field);
    const known = Object.hasOwn(message, name) ? message[name] : undefined;
    if (known === undefined) continue;
    if (name !== field && Object.hasOwn(value, name))
      throw badRequest(`${at(field)} and ${at(name)} are the same field; send it once`, {
        param: at(field),
        code: 'duplicate_field',
      });
    const next =
      known === VALUE
        ? inner
        : known instanceof MapOf
          ? renamedValues(inner, known.value, at(name))
          : renamed(inner, known, at(name));
    if (name === field && next === inner) continue;
    out ??= { ...value };
    if (name !== field) delete out[field];
    out[name] = next;
  }
  return out ?? value;
}

/** A map's values under their JSON names; its keys as the client wrote them. */
function renamedValues(value: unknown, message: Message, path: string): unknown {
  if (!isRecord(value)) return value;
  let out: Record<string, unknown> | undefined;
  for (const [key, inner] of Object.entries(value)) {
    const next = renamed(inner, message, `${path}.${key}`);
    if (next === inner) continue;
    out ??= { ...value };
    out[key] = next;
  }
  return out ?? value;
}
