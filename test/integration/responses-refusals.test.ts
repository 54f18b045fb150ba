import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import { type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * A model's refusal on /v1/responses, as OpenAI's own SDK reads it: OpenAI's `refusal` is a
 * `refusal` part (streamed as `response.refusal.*`), which `responses.parse` leaves unparsed rather
 * than throwing on; it is stored and replayed as one, to any provider.
 */
const REFUSAL = "I'm sorry, I can't help with that.";
const REFUSED: Script = { blocks: [], refusal: REFUSAL, stop: 'end', usage: { input: 12, output: 9 } };
const SAID: Script = {
  blocks: [{ type: 'text', text: 'Understood.' }],
  stop: 'end',
  usage: { input: 20, output: 3 },
};

const text = {
  format: {
    type: 'json_schema' as const,
    name: 'answer',
    strict: true,
    schema: {
      type: 'object',
      properties: { answer: { type: 'string' } },
      required: ['answer'],
      additionalProperties: false,
    },
  },
};

let setup: FormatGateway;
let client: OpenAI;
beforeAll(async () => {
  setup = await startFormatGateway();
  client = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(() => setup?.close());

const refusalMessage = {
  type: 'message',
  role: 'assistant',
  status: 'completed',
  content: [{ type: 'refusal', refusal: REFUSAL }],
};

/** A stream's one terminal event (completed or incomplete) and its response; throws on two. */
async function endOf(
  stream: AsyncIterable<OpenAI.Responses.ResponseStreamEvent>,
): Promise<[string, OpenAI.Responses.Response]> {
  const ends: Array<[string, OpenAI.Responses.Response]> = [];
  for await (const event of stream)
    if (event.type === 'response.incomplete' || event.type === 'response.completed')
      ends.push([event.type, event.response]);
  expect(ends).toHaveLength(1);
  return ends[0]!;
}

describe('an OpenAI-format refusal on /v1/responses', () => {
  it('is a refusal part, which responses.parse leaves unparsed', async () => {
    setup.fakes.openai.script(REFUSED);
    const response = await client.responses.parse({ model: 'openai/m', input: 'Something bad', text });
    expect(response.status).toBe('completed');
    expect(response.incomplete_details).toBeNull();
    expect(response.output).toEqual([expect.objectContaining(refusalMessage)]);
    expect(response.output_parsed).toBeNull();
    expect(response.output_text).toBe('');
  });

  it('cut by the output limit, or stopped by the filter, is an incomplete response saying which', async () => {
    const cases = [
      ['max_tokens', 'max_output_tokens', 'incomplete'],
      ['refusal', 'content_filter', 'completed'],
    ] as const;
    for (const [stop, reason, itemStatus] of cases) {
      const cut = { type: 'message', content: [{ type: 'refusal', refusal: REFUSAL }], status: itemStatus };
      setup.fakes.openai.script({ ...REFUSED, stop });
      const response = await client.responses.create({ model: 'openai/m', input: 'Something bad' });
      expect(response).toMatchObject({ status: 'incomplete', incomplete_details: { reason } });
      expect(response.output).toEqual([expect.objectContaining(cut)]);

      setup.fakes.openai.script({ ...REFUSED, stop });
      const stream = await client.responses.create({
        model: 'openai/m',
        input: 'Something bad',
        stream: true,
      });
      const [type, ended] = await endOf(stream);
      expect(type).toBe('response.incomplete');
      expect(ended).toMatchObject({ status: 'incomplete', incomplete_details: { reason } });
    }
  });

  it('streams as response.refusal events, and the stream helper ends unparsed', async () => {
    setup.fakes.openai.script(REFUSED);
    const stream = client.responses.stream({ model: 'openai/m', input: 'Something bad', text });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalResponse();
    expect(events.some((event) => event.type === 'response.output_text.delta')).toBe(false);
    const deltas = events.flatMap((event) => (event.type === 'response.refusal.delta' ? [event.delta] : []));
    expect(deltas.join('')).toBe(REFUSAL);
    const item_id = final.output[0]!.id;
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'response.content_part.added',
        item_id,
        part: { type: 'refusal', refusal: '' },
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'response.refusal.done',
        item_id,
        output_index: 0,
        content_index: 0,
        refusal: REFUSAL,
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'response.output_item.done',
        item: expect.objectContaining(refusalMessage),
      }),
    );
    expect(final.status).toBe('completed');
    // The helper adds `parsed: null` to every part it does not parse.
    expect(final.output).toMatchObject([refusalMessage]);
    expect(final.output_parsed).toBeNull();
  });

  it('is stored as a refusal part, and replays to another provider, as a chain or as input', async () => {
    for (const stream of [false, true]) {
      setup.fakes.openai.script(REFUSED);
      const created = stream
        ? await client.responses.stream({ model: 'openai/m', input: 'Something bad' }).finalResponse()
        : await client.responses.create({ model: 'openai/m', input: 'Something bad' });
      const stored = await client.responses.retrieve(created.id);
      expect(stored.output).toEqual([expect.objectContaining(refusalMessage)]);

      setup.fakes.anthropic.script(SAID);
      const chained = await client.responses.create({
        model: 'anthropic/m',
        previous_response_id: created.id,
        input: 'Fine, never mind.',
      });
      expect(chained.output_text).toBe('Understood.');
      const replayed = await client.responses.create({
        model: 'anthropic/m',
        input: [
          { role: 'user', content: 'Something bad' },
          ...(stored.output as OpenAI.Responses.ResponseInputItem[]),
          { role: 'user', content: 'Fine, never mind.' },
        ],
      });
      expect(replayed.output_text).toBe('Understood.');
      for (const request of setup.fakes.anthropic.requests.slice(-2))
        expect((request.body as { messages: unknown[] }).messages[1]).toEqual({
          role: 'assistant',
          content: [{ type: 'text', text: REFUSAL }],
        });
    }
  });
});

describe("Anthropic's stop_reason refusal on /v1/responses", () => {
  // Claude's refusal may cut its answer short: the text so far, then the stop.
  const DECLINED: Script = {
    blocks: [{ type: 'text', text: 'I started to' }],
    stop: 'refusal',
    usage: { input: 12, output: 4 },
  };
  const filtered = { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };

  it('is an incomplete response for content_filter, streamed or not, as Gemini SAFETY is', async () => {
    for (const format of ['anthropic', 'gemini'] as const) {
      setup.fakes[format].script(DECLINED);
      const response = await client.responses.create({ model: `${format}/m`, input: 'Something bad' });
      expect(response).toMatchObject(filtered);
      expect(response.output_text).toBe('I started to');
      expect(await client.responses.retrieve(response.id)).toMatchObject(filtered);

      const stream = await client.responses.create({
        model: `${format}/m`,
        input: 'Something bad',
        stream: true,
      });
      const [type, ended] = await endOf(stream);
      expect(type).toBe('response.incomplete');
      expect(ended).toMatchObject(filtered);
    }
  });
});
