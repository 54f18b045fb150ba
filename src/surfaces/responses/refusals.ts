import { badRequest, type GatewayError } from '../../errors/gateway-error.js';
import type { CustomTool, FunctionTool, InputItem, ResponsesRequest } from './schema.js';

/**
 * Responses API features that need something Keyward does not have: state in the provider's
 * account, or a runtime only OpenAI's own Responses endpoint offers (Keyward sends every Responses
 * request as Chat Completions). Each is refused naming its field, with what to do instead; sent on
 * without them, the request would ask a different question. Their no-op values (`background:
 * false`, `defer_loading: false`, a `direct` caller, …) pass.
 */

const unsupported = (message: string, param: string): GatewayError =>
  badRequest(message, { param, code: 'unsupported_parameter' });

export function refuseUnoffered(body: ResponsesRequest): void {
  if (body.background)
    throw unsupported(
      'Background responses are not supported by Keyward; send background: false',
      'background',
    );
  // A stored prompt belongs to the provider account, which every credential routed to its key shares.
  if (body.prompt)
    throw unsupported(
      "Stored prompts ('prompt') are not supported by Keyward: they live in the provider's account, shared by every credential that reaches it, and Chat Completions, which Keyward sends Responses requests as, cannot use them; send instructions and input, or run a Keyward template (POST /v1/templates/{name}/run)",
      'prompt',
    );
  if (body.moderation)
    throw unsupported(
      "Moderated responses ('moderation') are not supported by Keyward: a response it builds has no place for the results; leave moderation out",
      'moderation',
    );
  if (body.service_tier === 'ultrafast')
    throw unsupported(
      "service_tier 'ultrafast' is not supported by Keyward: Chat Completions, which Keyward sends Responses requests as, has no such tier; choose another tier or leave service_tier out",
      'service_tier',
    );
  body.tools?.forEach((sent, i) => {
    if (sent.type !== 'function' && sent.type !== 'custom') return;
    // Only the function and custom tools' schemas take these types.
    const tool = sent as FunctionTool | CustomTool;
    if (tool.defer_loading === true)
      throw unsupported(
        "Deferred functions ('defer_loading': true) are loaded by OpenAI's hosted tool search, which Keyward does not offer; send defer_loading: false or leave it out",
        `tools[${i}].defer_loading`,
      );
    if (tool.allowed_callers && !tool.allowed_callers.includes('direct'))
      throw unsupported(
        "A function only programs may call needs OpenAI's hosted programmatic tool calling, which Keyward does not offer; add 'direct' to allowed_callers or leave it out",
        `tools[${i}].allowed_callers`,
      );
  });
  if (Array.isArray(body.input)) refuseUnofferedItems(body.input, 'input');
}

/** The same for items, sent as a request's input or added to a conversation (`field`: `items`). */
export function refuseUnofferedItems(items: readonly InputItem[], field: string): void {
  items.forEach((item, i) => {
    if (
      item.type !== 'function_call' &&
      item.type !== 'function_call_output' &&
      item.type !== 'custom_tool_call' &&
      item.type !== 'custom_tool_call_output'
    )
      return;
    // Replayed without it, the call would name another function: one outside the namespace.
    if ('namespace' in item && item.namespace)
      throw unsupported(
        'Function calls in a namespace come from namespace tools, which Keyward does not offer; declare the function as a function tool and send its calls without namespace',
        `${field}[${i}].namespace`,
      );
    if (item.caller?.type === 'program')
      throw unsupported(
        "Function calls made by a program come from OpenAI's hosted programmatic tool calling, which Keyward does not offer; send calls the model made (caller type 'direct') only",
        `${field}[${i}].caller`,
      );
  });
}
