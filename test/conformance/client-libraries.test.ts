import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatAnthropic } from '@langchain/anthropic';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { type AIMessageChunk, type BaseMessage, HumanMessage } from '@langchain/core/messages';
import { tool as lcTool } from '@langchain/core/tools';
import { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';
import {
  type EmbeddingModel,
  embedMany,
  generateText,
  type LanguageModel,
  Output,
  stepCountIs,
  streamText,
  tool,
} from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Script } from '../support/fake-providers/script.js';
import type { FakeProvider, RecordedRequest } from '../support/fake-providers/server.js';
import { FORMATS, type Format, startFormatGateway } from '../support/format-gateway.js';
import type { TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * The client libraries people use, unchanged, through Keyward to a fake provider of every format:
 * the Vercel AI SDK (`@ai-sdk/openai`, `@ai-sdk/anthropic`, `@ai-sdk/openai-compatible`) and
 * LangChain (`@langchain/openai`, `@langchain/anthropic`). `@ai-sdk/openai` is used as
 * `openai.chat(model)`: its default `openai(model)` posts to `/v1/responses`, which is another
 * surface. Each fake plays one agent (below) that answers by what the request holds, so a whole
 * tool loop runs against it.
 */
const MODELS: Record<Format, string> = {
  openai: 'openai/gpt-4.1-mini',
  anthropic: 'anthropic/claude-sonnet-4-5',
  gemini: 'gemini/gemini-2.5-flash',
  ollama: 'ollama/qwen3:8b',
};
const EMBEDDING_MODELS: Partial<Record<Format, string>> = {
  openai: 'openai/text-embedding-3-small',
  gemini: 'gemini/gemini-embedding-001',
  ollama: 'ollama/nomic-embed-text',
};

const GREETING = 'Hello there, how can I help you today?';
const WEATHER = '18 C and sunny';
const FORECAST = `It is ${WEATHER} in Paris.`;
const ADA = { name: 'Ada', age: 36 };
const usage = { input: 20, output: 10 };

/** The tool names a request offers, in any of the four formats. */
function toolNames(body: unknown): string[] {
  const tools = (body as { tools?: unknown[] } | undefined)?.tools ?? [];
  return tools.flatMap((entry) => {
    const t = entry as {
      name?: string;
      function?: { name: string };
      functionDeclarations?: Array<{ name: string }>;
    };
    return t.functionDeclarations?.map((f) => f.name) ?? [t.function?.name ?? t.name ?? ''];
  });
}

/**
 * What the model says: the forecast once the tool's result is in the conversation, a weather call
 * when asked about the weather, Ada (as a forced tool's input where the client asks for
 * structured output through a tool, as JSON text otherwise), a greeting for anything else.
 */
function agent(request: RecordedRequest): Script {
  const { raw } = request;
  if (raw.includes(WEATHER)) return { blocks: [{ type: 'text', text: FORECAST }], stop: 'end', usage };
  if (raw.includes('weather in Paris')) {
    return {
      blocks: [
        { type: 'tool_call', id: 'call_weather_1', name: 'get_weather', arguments: { city: 'Paris' } },
      ],
      stop: 'tool_use',
      usage,
    };
  }
  if (raw.includes('Describe Ada')) {
    const forced = toolNames(request.body).find((name) => name === 'json' || name === 'person');
    if (forced) {
      return {
        blocks: [{ type: 'tool_call', id: 'call_ada', name: forced, arguments: ADA }],
        stop: 'tool_use',
        usage,
      };
    }
    return { blocks: [{ type: 'text', text: JSON.stringify(ADA) }], stop: 'end', usage };
  }
  return { blocks: [{ type: 'text', text: GREETING }], stop: 'end', usage };
}

/** One client library, reduced to the scenarios every test runs. */
interface Client {
  text(model: string): Promise<{ text: string; inputTokens?: number; outputTokens?: number }>;
  stream(model: string): Promise<string>;
  /** A tool loop: the model calls get_weather, the result goes back, the model answers. */
  tools(model: string, streamed: boolean): Promise<string>;
  structured(model: string): Promise<unknown>;
  embed?(model: string, inputs: string[]): Promise<number[][]>;
}

const weatherSchema = z.object({ city: z.string() });
const personSchema = z.object({ name: z.string(), age: z.number() });

function aiSdkClient(
  chat: (model: string) => LanguageModel,
  embedding?: (model: string) => EmbeddingModel,
): Client {
  const tools = {
    get_weather: tool({
      description: 'The weather in a city',
      inputSchema: weatherSchema,
      execute: async () => WEATHER,
    }),
  };
  const base = { maxRetries: 0 };
  return {
    async text(model) {
      const result = await generateText({ ...base, model: chat(model), prompt: 'Say hello' });
      return {
        text: result.text,
        inputTokens: result.usage.inputTokens,
        outputTokens: result.usage.outputTokens,
      };
    },
    async stream(model) {
      const result = streamText({ ...base, model: chat(model), prompt: 'Say hello', onError: () => {} });
      let text = '';
      for await (const piece of result.textStream) text += piece;
      return text;
    },
    async tools(model, streamed) {
      const options = {
        ...base,
        model: chat(model),
        tools,
        stopWhen: stepCountIs(3),
        prompt: 'What is the weather in Paris?',
      };
      if (!streamed) return (await generateText(options)).text;
      const result = streamText({ ...options, onError: () => {} });
      return await result.text;
    },
    async structured(model) {
      const result = await generateText({
        ...base,
        model: chat(model),
        output: Output.object({ schema: personSchema }),
        prompt: 'Describe Ada',
      });
      return result.output;
    },
    ...(embedding && {
      async embed(model: string, inputs: string[]) {
        return (await embedMany({ ...base, model: embedding(model), values: inputs })).embeddings;
      },
    }),
  };
}

async function lastChunk(stream: AsyncIterable<AIMessageChunk>): Promise<AIMessageChunk> {
  let whole: AIMessageChunk | undefined;
  for await (const chunk of stream) whole = whole ? whole.concat(chunk) : chunk;
  if (!whole) throw new Error('empty stream');
  return whole;
}

function langChainClient(
  chat: (model: string) => BaseChatModel,
  embeddings?: (model: string) => OpenAIEmbeddings,
): Client {
  const weather = lcTool(async () => WEATHER, {
    name: 'get_weather',
    description: 'The weather in a city',
    schema: weatherSchema,
  });
  return {
    async text(model) {
      const answer = await chat(model).invoke('Say hello');
      return {
        text: answer.text,
        inputTokens: answer.usage_metadata?.input_tokens,
        outputTokens: answer.usage_metadata?.output_tokens,
      };
    },
    async stream(model) {
      return (await lastChunk(await chat(model).stream('Say hello'))).text;
    },
    // LangChain's standard agent loop: the tool's ToolMessage (with the tool's name) goes back.
    async tools(model, streamed) {
      const bound = chat(model).bindTools?.([weather]);
      if (!bound) throw new Error('no tool binding');
      const messages: BaseMessage[] = [new HumanMessage('What is the weather in Paris?')];
      const call = streamed ? await lastChunk(await bound.stream(messages)) : await bound.invoke(messages);
      messages.push(call);
      for (const toolCall of call.tool_calls ?? []) messages.push(await weather.invoke(toolCall));
      const answer = streamed ? await lastChunk(await bound.stream(messages)) : await bound.invoke(messages);
      return answer.text;
    },
    async structured(model) {
      return await chat(model).withStructuredOutput(personSchema, { name: 'person' }).invoke('Describe Ada');
    },
    ...(embeddings && {
      async embed(model: string, inputs: string[]) {
        return await embeddings(model).embedDocuments(inputs);
      },
    }),
  };
}

/** The vectors each fake gives (see the fakes): OpenAI's (and Ollama's) fixed, Gemini's by length. */
function vectors(format: Format, inputs: string[]): number[][] {
  return inputs.map((input) => [0.125, -0.25, 0.5, format === 'gemini' ? input.length / 1024 : 1]);
}

describe('client libraries through Keyward, every provider format', () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  const clients: Record<string, Client> = {};

  beforeAll(async () => {
    ({ fakes, kw } = await startFormatGateway());
    for (const format of FORMATS) fakes[format].script(agent);
    const baseURL = `${kw.dataUrl}/v1`;
    const aiOpenAI = createOpenAI({ baseURL, apiKey: CLIENT_KEY });
    const aiAnthropic = createAnthropic({ baseURL, apiKey: CLIENT_KEY });
    const aiCompatible = createOpenAICompatible({
      name: 'keyward',
      baseURL,
      apiKey: CLIENT_KEY,
      includeUsage: true,
    });
    const configuration = { baseURL };
    clients['ai-sdk openai.chat'] = aiSdkClient(aiOpenAI.chat, aiOpenAI.embeddingModel);
    clients['ai-sdk anthropic'] = aiSdkClient(aiAnthropic);
    clients['ai-sdk openai-compatible'] = aiSdkClient(aiCompatible.chatModel, aiCompatible.embeddingModel);
    clients['langchain ChatOpenAI'] = langChainClient(
      (model) => new ChatOpenAI({ model, apiKey: CLIENT_KEY, configuration, maxRetries: 0 }),
      (model) => new OpenAIEmbeddings({ model, apiKey: CLIENT_KEY, configuration, maxRetries: 0 }),
    );
    clients['langchain ChatAnthropic'] = langChainClient(
      (model) => new ChatAnthropic({ model, apiKey: CLIENT_KEY, anthropicApiUrl: kw.dataUrl, maxRetries: 0 }),
    );
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all(FORMATS.map((format) => fakes?.[format]?.close()));
  });

  const names = [
    'ai-sdk openai.chat',
    'ai-sdk anthropic',
    'ai-sdk openai-compatible',
    'langchain ChatOpenAI',
    'langchain ChatAnthropic',
  ];
  for (const name of names) {
    describe(name, () => {
      for (const format of FORMATS) {
        const model = MODELS[format];
        it(`${format}: text, with usage`, async () => {
          expect(await clients[name]!.text(model)).toEqual({
            text: GREETING,
            inputTokens: 20,
            outputTokens: 10,
          });
        });
        it(`${format}: stream`, async () => {
          expect(await clients[name]!.stream(model)).toBe(GREETING);
        });
        for (const streamed of [false, true]) {
          it(`${format}: tool loop${streamed ? ', streamed' : ''}, the result sent back`, async () => {
            expect(await clients[name]!.tools(model, streamed)).toBe(FORECAST);
            // The provider saw the tool's result in the conversation.
            expect(fakes[format].requests.at(-1)!.raw).toContain(WEATHER);
          });
        }
        it(`${format}: structured output`, async () => {
          expect(await clients[name]!.structured(model)).toEqual(ADA);
        });
        const embeddingModel = EMBEDDING_MODELS[format];
        if (embeddingModel && !name.includes('nthropic')) {
          it(`${format}: embeddings`, async () => {
            const inputs = ['hi', 'hello'];
            expect(await clients[name]!.embed!(embeddingModel, inputs)).toEqual(vectors(format, inputs));
          });
        }
      }
    });
  }
});
