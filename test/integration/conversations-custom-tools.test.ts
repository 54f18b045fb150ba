import OpenAI from 'openai';
import { afterEach, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { freshDataDir } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/** A conversation's trim pairs a custom tool's output with its call, as it does a function's. */

let fake: FakeProvider | undefined;
let kw: TestGateway | undefined;
afterEach(async () => {
  await kw?.close();
  await fake?.close();
  kw = fake = undefined;
});

async function client(maxItems: number): Promise<OpenAI> {
  fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'openai', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
      conversations: { maxItems },
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    freshDataDir(),
  );
  return new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
}

const kinds = (items: OpenAI.Conversations.ConversationItem[]) =>
  items.map((item) => (item.type === 'message' ? item.role : item.type));

it('never leaves a custom tool output first when it trims, since its call is gone', async () => {
  const openai = await client(3);
  const conversation = await openai.conversations.create({
    items: [
      { role: 'user', content: 'one' },
      { type: 'custom_tool_call', call_id: 'call_1', name: 'apply_patch', input: '*** Begin Patch' },
      { type: 'custom_tool_call_output', call_id: 'call_1', output: 'Done!' },
      { role: 'assistant', content: 'done' },
      { role: 'user', content: 'two' },
    ],
  });
  const items = await openai.conversations.items.list(conversation.id, { order: 'asc' });
  expect(kinds(items.data)).toEqual(['assistant', 'user']);
});

it('keeps a custom tool call with its output when both fit', async () => {
  const openai = await client(4);
  const conversation = await openai.conversations.create({
    items: [
      { role: 'user', content: 'one' },
      { role: 'user', content: 'two' },
      { type: 'custom_tool_call', call_id: 'call_1', name: 'apply_patch', input: '*** Begin Patch' },
      { type: 'custom_tool_call_output', call_id: 'call_1', output: 'Done!' },
      { role: 'assistant', content: 'done' },
    ],
  });
  const items = await openai.conversations.items.list(conversation.id, { order: 'asc' });
  expect(kinds(items.data)).toEqual(['user', 'custom_tool_call', 'custom_tool_call_output', 'assistant']);
});
