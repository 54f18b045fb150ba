import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type {
  ResponseInputItem,
  ResponseInputMessageContentList,
} from 'openai/resources/responses/responses';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { PROVIDER_KEY } from '../support/setup.js';

/**
 * A budget reserves input named by URL, or media carried inline, at the context window: it costs
 * what the provider reads (a long PDF), not its bytes. The walk read only the client's body, so the
 * same PDF URL stored in a conversation or an earlier response, and replayed with `conversation`,
 * `previous_response_id`, an `item_reference` or the `x-keyward-conversation` header, was reserved
 * at its bytes: six follow-ups at once spent about four times a $1 budget. What is replayed is now
 * weighed as the body is.
 */

/** $1 a million input tokens: the 200,000-token context window costs $0.20. */
const PRICE = { input: 1, output: 2 };
/** More than any of these requests' bytes cost, and less than the window. */
const BUDGET_USD = 0.1;
const MAX_TOKENS = 100;
const PDF_URL = 'https://docs.example.com/annual-report.pdf';

const question = (content: ResponseInputMessageContentList): ResponseInputItem.Message => ({
  type: 'message',
  role: 'user',
  content,
});
/** A question about a long PDF named by URL. */
const aboutPdf = question([
  { type: 'input_file', file_url: PDF_URL },
  { type: 'input_text', text: 'Summarise this report.' },
]);

/** The SDK's answer to `sent`: 200, or the status and message of the error it threw. */
async function outcome(sent: Promise<unknown>): Promise<{ status: number | undefined; message: string }> {
  try {
    await sent;
    return { status: 200, message: '' };
  } catch (error) {
    return { status: (error as { status?: number }).status, message: String((error as Error).message) };
  }
}

describe('a budget under media in a stored history', () => {
  let claude: FakeProvider;
  let kw: TestGateway;
  /** The user's token without a budget, which stored the history. */
  let free: OpenAI;
  /** The same user's token held to BUDGET_USD. */
  let held: { openai: OpenAI; anthropic: Anthropic };

  beforeAll(async () => {
    claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        providers: [
          { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys: { env: 'PROVIDER_KEY' } },
        ],
        models: [{ name: 'claude', provider: 'claude', model: 'media-model' }],
        pricing: { 'media-model': PRICE },
      },
      { PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
    // Two tokens of one user share its stored conversations and responses.
    const mint = async (name: string, budget?: { usd: number; period: 'day' }) => {
      const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
        name,
        userId: 'reader',
        budget,
      });
      expect(minted.status).toBe(201);
      return minted.json.token as string;
    };
    free = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: await mint('free'), maxRetries: 0 });
    const token = await mint('held', { usd: BUDGET_USD, period: 'day' });
    held = {
      openai: new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 }),
      anthropic: new Anthropic({ baseURL: kw.dataUrl, apiKey: token, maxRetries: 0 }),
    };
  });
  afterAll(async () => {
    await kw?.close();
    await claude?.close();
  });

  /** Expects `sent` refused for the budget without a call to the provider. */
  const refusedForBudget = async (sent: () => Promise<unknown>) => {
    const calls = claude.requests.length;
    const { status, message } = await outcome(sent());
    expect(status).toBe(429);
    expect(message).toMatch(/budget/);
    expect(claude.requests.length).toBe(calls);
  };
  const followUp = { model: 'claude', max_output_tokens: MAX_TOKENS, input: 'And its conclusion?' };

  it('reserves a request in a conversation holding a PDF by URL at the context window', async () => {
    const conversation = await held.openai.conversations.create({ items: [aboutPdf] });
    await refusedForBudget(() =>
      held.openai.responses.create({ ...followUp, conversation: conversation.id }),
    );
  });

  it('reserves a request in such a conversation through the header at the context window', async () => {
    // As Chat Completions, Messages and Gemini clients (and template runs) continue a conversation.
    const conversation = await held.openai.conversations.create({ items: [aboutPdf] });
    await refusedForBudget(() =>
      held.anthropic.messages.create(
        {
          model: 'claude',
          max_tokens: MAX_TOKENS,
          messages: [{ role: 'user', content: 'And its conclusion?' }],
        },
        { headers: { 'x-keyward-conversation': conversation.id } },
      ),
    );
  });

  it('reserves a continued response that read a PDF by URL at the context window', async () => {
    const first = await free.responses.create({
      model: 'claude',
      max_output_tokens: MAX_TOKENS,
      input: [aboutPdf],
    });
    await refusedForBudget(() =>
      held.openai.responses.create({ ...followUp, previous_response_id: first.id }),
    );
  });

  it('reserves a reference to a stored PDF item at the context window', async () => {
    const conversation = await held.openai.conversations.create({ items: [aboutPdf] });
    const id = (await held.openai.conversations.items.list(conversation.id)).data[0]?.id ?? '';
    expect(id).toMatch(/^msg_/);
    await refusedForBudget(() =>
      held.openai.responses.create({
        model: 'claude',
        max_output_tokens: MAX_TOKENS,
        input: [{ type: 'item_reference', id }],
      }),
    );
  });

  it('reserves a PDF carried inline in a conversation at the context window', async () => {
    const pdf = Buffer.from('%PDF-1.4\n%%EOF\n').toString('base64');
    const conversation = await held.openai.conversations.create({
      items: [
        question([
          { type: 'input_file', filename: 'report.pdf', file_data: `data:application/pdf;base64,${pdf}` },
          { type: 'input_text', text: 'Summarise this report.' },
        ]),
      ],
    });
    await refusedForBudget(() =>
      held.openai.responses.create({ ...followUp, conversation: conversation.id }),
    );
  });

  it('reserves a history of text by its bytes', async () => {
    const conversation = await held.openai.conversations.create({
      items: [question([{ type: 'input_text', text: 'Remember the number 7.' }])],
    });
    const answer = await held.openai.responses.create({ ...followUp, conversation: conversation.id });
    expect(answer.status).toBe('completed');
  });
});
