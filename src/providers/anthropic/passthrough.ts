import { isWrapped, WRAPPED_IN_JSON } from '../../canonical/foreign-signature.js';
import { UnsupportedFeature } from '../../canonical/model.js';
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

const items = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

function toolOfType(body: Body, type: RegExp): string | undefined {
  const i = items(body.tools).findIndex(
    (tool) => isRecord(tool) && typeof tool.type === 'string' && type.test(tool.type),
  );
  return i === -1 ? undefined : `tools[${i}]`;
}

function compactionEdit(body: Body): string | undefined {
  const management = body.context_management;
  if (!isRecord(management)) return undefined;
  const i = items(management.edits).findIndex((edit) => isRecord(edit) && edit.type === 'compact_20260112');
  return i === -1 ? undefined : `context_management.edits[${i}]`;
}

const mcpServers: Finder = (body) => (items(body.mcp_servers).length > 0 ? 'mcp_servers' : undefined);

const skills: Finder = (body) =>
  isRecord(body.container) && items(body.container.skills).length > 0 ? 'container.skills' : undefined;

const namesFile = (block: unknown): boolean =>
  isRecord(block) &&
  (block.type === 'container_upload' || (isRecord(block.source) && block.source.type === 'file'));

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

/**
 * Body fields Anthropic refuses without a beta flag that is not on the default list, by flag.
 * Only betas the client asked for are looked up: a client that names none may be using a feature
 * that has since left beta, and Anthropic's verdict on that request is its own.
 */
const GATED: Readonly<Record<string, Finder>> = {
  // The advisor and compaction run sub-requests whose tokens (`usage.iterations`) are not charged.
  'advisor-tool-2026-03-01': (body) => toolOfType(body, ADVISOR_TOOL),
  'compact-2026-01-12': compactionEdit,
  // MCP servers are reached by Anthropic with the client's credentials for them.
  'mcp-client-2025-04-04': mcpServers,
  'mcp-client-2025-11-20': (body) => mcpServers(body) ?? toolOfType(body, MCP_TOOLSET),
  // Skills and files live in the provider account, shared by every client of the gateway.
  'skills-2025-10-02': skills,
  'files-api-2025-04-14': fileReference,
};

/**
 * Refuses a body that uses a feature whose beta flag the client asked for and the gateway leaves
 * out (`dropped`): Anthropic would refuse it with a 400 whose words the client never sees.
 */
export function refuseWithoutBeta(body: Body, dropped: readonly string[], provider: string): void {
  for (const flag of dropped) {
    // A client's flag may be named like an Object member (`constructor`): only the table's own are looked up.
    const field = Object.hasOwn(GATED, flag) ? GATED[flag]!(body) : undefined;
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
