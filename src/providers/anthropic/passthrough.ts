import { isWrapped, WRAPPED_IN_JSON } from '../../canonical/foreign-signature.js';
import { UnsupportedFeature } from '../../canonical/model.js';
import type { AnthropicFeature } from '../../config/index.js';
import { isRecord } from '../wire-values.js';

/**
 * What the same-format path (an Anthropic-surface body going to an Anthropic provider) does to the
 * client's validated body on its way: everything else in it goes as the client sent it.
 */

type Body = Record<string, unknown>;
/** The path of the first field of a body that uses a feature, or undefined when none does. */
type Finder = (body: Body) => string | undefined;

const ADVISOR_TOOL = /^advisor_\d{8}$/;
const MCP_TOOLSET = /^mcp_toolset$/;
const COMPUTER_TOOL = /^computer_\d{8}$/;
const CODE_EXECUTION_TOOL = /^code_execution_\d{8}$/;

const items = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
/** A field set to something: the API reads null as absent. */
const set = (value: unknown): boolean => value !== undefined && value !== null;
const present = (body: Body, field: string): string | undefined => (set(body[field]) ? field : undefined);

function toolOfType(body: Body, type: RegExp): string | undefined {
  const i = items(body.tools).findIndex(
    (tool) => isRecord(tool) && typeof tool.type === 'string' && type.test(tool.type),
  );
  return i === -1 ? undefined : `tools[${i}]`;
}

/** The first message (of any role) that `test` picks, as the path its own finder names. */
function inMessages(body: Body, test: (message: Body, at: string) => string | undefined): string | undefined {
  for (const [i, entry] of items(body.messages).entries()) {
    const found = isRecord(entry) ? test(entry, `messages[${i}]`) : undefined;
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The first content block of any message that `test` picks. */
const blockWhere = (body: Body, test: (block: Body) => boolean): string | undefined =>
  inMessages(body, (entry, at) => {
    const j = items(entry.content).findIndex((content) => isRecord(content) && test(content));
    return j === -1 ? undefined : `${at}.content[${j}]`;
  });

const isToolChange = (content: Body): boolean =>
  content.type === 'tool_addition' || content.type === 'tool_removal';
/** The tool a tool change defines inline (`tool_definition`), if it does. */
const inlineTool = (content: Body): Body | undefined =>
  isToolChange(content) && isRecord(content.tool) && content.tool.type === 'tool_definition'
    ? (content.tool as Body)
    : undefined;

/**
 * A tool of the type declared in `tools` or defined inline in the conversation (a tool addition's
 * `tool_definition`): either way the model may use it.
 */
const declaredOrInline = (body: Body, type: RegExp): string | undefined =>
  toolOfType(body, type) ??
  blockWhere(body, (content) => {
    const tool = inlineTool(content);
    return (
      isRecord(tool?.definition) &&
      typeof tool.definition.type === 'string' &&
      type.test(tool.definition.type)
    );
  });

function compaction(body: Body): string | undefined {
  const management = body.context_management;
  const i = isRecord(management)
    ? items(management.edits).findIndex((edit) => isRecord(edit) && edit.type === 'compact_20260112')
    : -1;
  if (i !== -1) return `context_management.edits[${i}]`;
  return present(body, 'compaction') ?? blockWhere(body, (content) => content.type === 'compaction');
}

const mcp: Finder = (body) =>
  (items(body.mcp_servers).length > 0 ? 'mcp_servers' : undefined) ?? declaredOrInline(body, MCP_TOOLSET);

const skills: Finder = (body) =>
  isRecord(body.container) && items(body.container.skills).length > 0 ? 'container.skills' : undefined;

/** A block naming an uploaded file: itself, or in the blocks a document's `content` source holds. */
const namesFile = (block: unknown): boolean =>
  isRecord(block) &&
  (block.type === 'container_upload' ||
    (isRecord(block.source) &&
      (block.source.type === 'file' || items(block.source.content).some(namesFile))));

/** An uploaded file named in a message, or in a tool result inside one. */
const fileReference: Finder = (body) => {
  for (const [i, message] of items(body.messages).entries()) {
    if (!isRecord(message)) continue;
    for (const [j, block] of items(message.content).entries()) {
      const at = `messages[${i}].content[${j}]`;
      if (namesFile(block)) return at;
      if (!isRecord(block) || block.type !== 'tool_result') continue;
      const k = items(block.content).findIndex(namesFile);
      if (k !== -1) return `${at}.content[${k}]`;
    }
  }
  return undefined;
};

const thinking = (body: Body, field: string, test: (value: unknown) => boolean): string | undefined =>
  isRecord(body.thinking) && test(body.thinking[field]) ? `thinking.${field}` : undefined;

/** A field of a system message inside the conversation. */
const systemMessage = (body: Body, field: string): string | undefined =>
  inMessages(body, (entry, at) =>
    entry.role === 'system' && set(entry[field]) ? `${at}.${field}` : undefined,
  );

/**
 * Features a client may use only where the operator allows them (`allowedFeatures`, or a flag of
 * theirs in `allowedBetas`), whatever flags it sends or leaves out: what makes each the operator's
 * call is what it does, not its being in beta, so a feature that leaves beta stays gated. Each has
 * the flag families that grant it while it is in beta and the first field of a body that uses it.
 */
const GATED: Readonly<Record<AnthropicFeature, { name: string; families: readonly string[]; find: Finder }>> =
  {
    // The advisor and compaction run sub-requests whose tokens (`usage.iterations`) are not charged.
    advisor: {
      name: 'the advisor tool',
      families: ['advisor-tool'],
      find: (body) => declaredOrInline(body, ADVISOR_TOOL),
    },
    compaction: { name: 'compaction', families: ['compact'], find: compaction },
    // Code runs in a container billed by the hour, which no answer reports.
    'code-execution': {
      name: 'code execution',
      families: ['code-execution'],
      find: (body) => declaredOrInline(body, CODE_EXECUTION_TOOL),
    },
    // MCP servers are reached by Anthropic, at URLs the client names, with its credentials for them.
    mcp: { name: 'MCP servers', families: ['mcp-client'], find: mcp },
    // Skills, files and threads live in the provider account, shared by every client of the gateway.
    skills: { name: 'skills', families: ['skills'], find: skills },
    files: { name: 'uploaded files', families: ['files-api'], find: fileReference },
    threads: {
      name: 'server-held threads',
      families: ['message-threads'],
      find: (body) => present(body, 'thread'),
    },
    // Bills another organisation than the provider account's.
    'billing-policy': {
      name: 'billing another organisation',
      families: ['user-profiles'],
      find: (body) => present(body, 'billing_policy'),
    },
  };

/**
 * Body fields Anthropic takes only with a beta flag, each with the flag families that grant it. A
 * family is every version of a flag (`mcp-client` is `mcp-client-2025-04-04`, `…-2025-11-20` and
 * any later one), so a newer flag than the gateway knows cannot carry a field past it. Whether a
 * flag reaches Anthropic is the allowlist's affair (`DEFAULT_ALLOWED_BETAS`, the provider's
 * `allowedBetas`, the families of its `allowedFeatures`); this table only says which fields go
 * with which flags. The gated features' fields are among them.
 */
const BETA_FIELDS: ReadonlyArray<{ families: readonly string[]; find: Finder }> = [
  ...Object.values(GATED),
  // What the default list lets through: each changes only how the answer is produced or reported.
  {
    families: ['task-budgets'],
    find: (body) =>
      isRecord(body.output_config) && set(body.output_config.task_budget)
        ? 'output_config.task_budget'
        : undefined,
  },
  { families: ['computer-use'], find: (body) => toolOfType(body, COMPUTER_TOOL) },
  {
    families: ['thinking-display-updates'],
    find: (body) => thinking(body, 'display', (value) => value === 'updates'),
  },
  { families: ['thinking-binding-controls'], find: (body) => thinking(body, 'block_binding', set) },
  { families: ['mid-conversation-system-clear-at'], find: (body) => systemMessage(body, 'clear_at') },
  { families: ['mid-conversation-output-config'], find: (body) => systemMessage(body, 'output_config') },
  { families: ['mid-conversation-tool-changes'], find: (body) => blockWhere(body, isToolChange) },
  {
    families: ['inline-tools'],
    find: (body) => blockWhere(body, (content) => inlineTool(content) !== undefined),
  },
  {
    families: ['fallback-credit', 'server-side-fallback'],
    find: (body) => present(body, 'fallback_credit_token'),
  },
];

const inFamily = (families: readonly string[]) => (flag: string) =>
  families.some((family) => flag.startsWith(`${family}-`));

/** `GATED` as entries, made once: the gate walks them on every request to Anthropic. */
const GATED_ENTRIES = Object.entries(GATED) as [AnthropicFeature, (typeof GATED)[AnthropicFeature]][];

/** Whether a flag is of one of the features' families: every version of their flags. */
export const ofFeatures = (features: readonly AnthropicFeature[]): ((flag: string) => boolean) =>
  inFamily(features.flatMap((feature) => GATED[feature].families));

/**
 * The gated features a provider allows: those its `allowedFeatures` names, and those a flag in its
 * `allowedBetas` grants (an operator who let a feature's beta flag on meant the feature).
 */
export function allowedFeatures(
  named: readonly AnthropicFeature[],
  betas: readonly string[],
): ReadonlySet<AnthropicFeature> {
  const granted = GATED_ENTRIES.filter(([feature]) => betas.some(ofFeatures([feature]))).map(
    ([feature]) => feature,
  );
  return new Set([...named, ...granted]);
}

/** What a provider lets a body carry: the flags going on and left out, and the gated features. */
export interface BetaGate {
  sent: readonly string[];
  dropped: readonly string[];
  features: ReadonlySet<AnthropicFeature>;
  provider: string;
}

/**
 * Refuses a body that uses a gated feature the provider does not allow, whatever flags came with
 * it, then one that uses a beta-only field when the flags the client asked for that grant it are
 * all left out (`dropped`) and none goes on (`sent`): Anthropic would refuse the field, or ignore
 * it, in words the client never sees. Another field whose client names no flag for it is sent as
 * it asked: the feature may have left beta, and Anthropic's verdict on that request is its own.
 */
export function refuseWithoutBeta(body: Body, { sent, dropped, features, provider }: BetaGate): void {
  for (const [feature, { name, find }] of GATED_ENTRIES) {
    if (features.has(feature)) continue;
    const field = find(body);
    if (field === undefined) continue;
    throw new UnsupportedFeature(
      `'${field}' uses ${name}, which provider '${provider}' does not allow; leave the field out, or ask the operator to add '${feature}' to the provider's allowedFeatures`,
      field,
    );
  }
  if (dropped.length === 0) return;
  for (const { families, find } of BETA_FIELDS) {
    const grants = inFamily(families);
    const flag = dropped.find(grants);
    if (flag === undefined || sent.some(grants)) continue;
    const field = find(body);
    if (field === undefined) continue;
    throw new UnsupportedFeature(
      `'${field}' needs the anthropic-beta flag '${flag}', which the gateway does not pass to provider '${provider}'; leave the field out, or ask the operator to add the flag to the provider's allowedBetas`,
      field,
    );
  }
}

/** Only an empty signature makes this text in the JSON: inside a string, the quotes are escaped. */
const EMPTY_SIGNATURE = '"signature":""';

/**
 * An Anthropic client's body without the alias's default temperature where Anthropic refuses it
 * (`refusesTemperature`; thinking enabled or adaptive), as a translated request is sent
 * (`ChatRequest.temperatureIsDefault`): its client never sent the field.
 */
export function withoutUntakenTemperature(body: Body): Body {
  const { temperature, thinking } = body;
  const thinks = isRecord(thinking) && (thinking.type === 'enabled' || thinking.type === 'adaptive');
  if (typeof temperature !== 'number' || !refusesTemperature(temperature, thinks)) return body;
  const { temperature: _left, ...rest } = body;
  return rest;
}

/**
 * Whether Anthropic refuses `temperature`: above 1, its range's end, or other than 1 while the
 * model `thinks`.
 */
export const refusesTemperature = (temperature: number, thinks: boolean): boolean =>
  temperature > 1 || (thinks && temperature !== 1);

/**
 * The body as Anthropic gets it, as JSON, with the routed model. Thinking blocks whose signature
 * is empty or another format's (`shownSignature`), and redacted thinking another format
 * encrypted, are left out: they are another provider's reasoning shown as thinking, and Anthropic
 * refuses the whole request over one, so a conversation that moves to a Claude model would fail
 * on every turn. The JSON is searched for either before any message is looked at, so a body with
 * neither costs nothing more.
 */
export function passthroughBody(body: Body, model: string): string {
  const json = JSON.stringify({ ...body, model });
  if (!json.includes(EMPTY_SIGNATURE) && !json.includes(WRAPPED_IN_JSON)) return json;
  const messages = withoutUnsignedThinking(items(body.messages));
  return messages === undefined ? json : JSON.stringify({ ...body, model, messages });
}

/** Thinking with nothing Anthropic signed: no signature, or another format's (`shownSignature`). */
const unsigned = (block: unknown): boolean =>
  isRecord(block) &&
  ((block.type === 'thinking' && (block.signature === '' || isWrapped(block.signature))) ||
    (block.type === 'redacted_thinking' && isWrapped(block.data)));

/**
 * The messages without unsigned thinking blocks, or undefined when none has one. An assistant
 * message left with nothing is left out: Anthropic joins the turns around it.
 */
function withoutUnsignedThinking(messages: unknown[]): unknown[] | undefined {
  let out: unknown[] | undefined;
  messages.forEach((message, i) => {
    const content = isRecord(message) && message.role === 'assistant' ? items(message.content) : [];
    if (!content.some(unsigned)) {
      out?.push(message);
      return;
    }
    out ??= messages.slice(0, i);
    const kept = content.filter((block) => !unsigned(block));
    if (kept.length > 0) out.push({ ...(message as Body), content: kept });
  });
  return out;
}
