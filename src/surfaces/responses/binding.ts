import { asCustomCall } from '../../canonical/custom-tools.js';
import type { ChatResponse } from '../../canonical/model.js';
import type { ConversationService, RoomHold } from '../../conversations/index.js';
import type { GatewayError } from '../../errors/gateway-error.js';
import type { Logger } from '../../observability/index.js';
import { asksPriorityTier } from '../openai/binding.js';
import { openAIErrorBody } from '../openai/envelope.js';
import { tracedClientParam } from '../part-origins.js';
import type { NativeRelay, SurfaceBinding } from '../types.js';
import {
  customToolNames,
  outcome,
  outputItem,
  outputView,
  type ResponseBody,
  type ResponseHead,
  responseBody,
  showsLogprobs,
  withCutItem,
  withoutLogprobs,
} from './from-canonical.js';
import { type Item, replayedBytes } from './items.js';
import type { ResponsesRequest } from './schema.js';
import { ResponsesStreamEncoder } from './stream-encoder.js';
import { logprobsParam, requestToCanonical } from './to-canonical.js';
import { fitToContext } from './truncation.js';
import { type Turn, turnEnd } from './turn.js';

/** No provider speaks the Responses format to Keyward: every target is translated. */
const noRelay: NativeRelay = () => {
  throw new Error('the Responses surface has no native provider');
};

/**
 * The Responses surface for one request: its canonical form carries the replayed history, and
 * the finished response (JSON or at the end of the stream) is stored before the client sees it
 * complete.
 */
export function responsesBinding(
  turn: Turn,
  body: ResponsesRequest,
  service: ConversationService,
  logger: Logger,
  /** Room held for the stored response (a guest's `maxStored`), given back once it is stored. */
  room?: RoomHold,
): SurfaceBinding {
  const head: ResponseHead = {
    id: turn.id,
    createdAt: Math.floor(Date.now() / 1000),
    body,
    conversationId: turn.conversationId,
  };
  /** The turn's items for its conversation, once answered. */
  let answered: Item[] | undefined;
  /** A conversation turn's response, stored once its conversation holds the turn. */
  let storeAnswered: (() => void) | undefined;
  const logprobs = showsLogprobs(body);
  /** The client's response, stored without the log probabilities it shows (`withoutLogprobs`). */
  const finished = (shown: ResponseBody, shownJson?: string) => {
    const response = logprobs ? withoutLogprobs(shown) : shown;
    const json = logprobs ? undefined : shownJson;
    const save = () => store(turn, body, response, service, logger, json, room);
    if (!turn.held) return save();
    answered = [...turn.input, ...response.output];
    storeAnswered = save;
  };
  const customTools = customToolNames(body);
  let encoder: ResponsesStreamEncoder | undefined;
  const ended = turn.held && turnEnd(turn.held, turn.conversationId ?? '', logger);
  // A turn the conversation does not hold leaves no response behind either: retrieving or
  // continuing it would show an answer its conversation lacks.
  const end =
    ended &&
    ((items: Item[] | undefined) =>
      ended(items).then(() => {
        storeAnswered?.();
        storeAnswered = undefined;
      }));
  return {
    format: 'responses',
    // The output limit is `max_output_tokens` here, log probabilities are asked by `include` or
    // `top_logprobs`; messages and parts are the items they came from.
    clientParam: (param, request) =>
      param === 'max_tokens'
        ? 'max_output_tokens'
        : param === 'logprobs'
          ? logprobsParam(body)
          : tracedClientParam(param, request),
    toCanonical: (sent) =>
      fitToContext(
        (history) => requestToCanonical(sent as ResponsesRequest, [...history, ...turn.input], turn.origin),
        turn.history,
        turn.input,
        body.truncation ?? 'disabled',
        service.contextTokens,
      ),
    fromCanonical: (answer: ChatResponse) => {
      const { status, incomplete } = outcome(answer.stopReason, answer.content);
      const view = outputView(body);
      const output = withCutItem(
        answer.content.map((part) => outputItem(asCustomCall(part, customTools), undefined, view)),
        answer.stopReason,
      );
      const response = responseBody(
        head,
        answer.model || body.model,
        output,
        status,
        answer.usage,
        incomplete,
      );
      finished(response);
      return response;
    },
    streamEncoder: () => {
      encoder = new ResponsesStreamEncoder(head, finished);
      return encoder;
    },
    errorBody: openAIErrorBody,
    errorEvent: (error: GatewayError) => encoder?.error(error) ?? '',
    relay: noRelay,
    maxTokensFields: ['max_output_tokens'],
    // The service tier is sent on to OpenAI-format providers, and priced there.
    optionsFormat: 'openai',
    asksFast: asksPriorityTier,
    addedInputBytes: replayedBytes(turn.history) + turn.referencedBytes,
    addedInput: [turn.history, turn.referenced],
    beforeEnd: () => end?.(answered),
  };
}

/**
 * With `store` (the default) a response can be retrieved and continued; its conversation's items
 * are the turn's end (`beforeEnd`). The write begins at once, so that it is tracked before the
 * client can ask for it. Nothing here waits for it: a suspended function would keep the request's objects (its turn, body and
 * response) alive until the write lands, long enough under load to outlive a young-generation
 * collection and be copied, then promoted. The failure handler keeps only the id.
 */
function store(
  turn: Turn,
  body: ResponsesRequest,
  response: ResponseBody,
  service: ConversationService,
  logger: Logger,
  /** The response's JSON, when the stream's last event has just made it. */
  json: string | undefined,
  room: RoomHold | undefined,
): void {
  const id = response.id;
  const failed = (error: unknown) => logger.error({ err: error, response: id }, 'cannot store a response');
  if (body.store === false) return;
  const save = () => service.saveResponse(turn.owner, response, turn.input, json);
  (room ? room.save(save) : save())?.catch(failed);
}
