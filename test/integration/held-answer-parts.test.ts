import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { AnswerMemory, type HeldAnswer } from '../../src/upstream/answer-memory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const MiB = 1024 * 1024;
const DIMENSIONS = 1024;
/** Three parts at Gemini: 100, 100 and 50 inputs. */
const INPUTS = 250;

/** The account a gateway counts its whole answers in, watched: the most it held, what it counted. */
class WatchedMemory extends AnswerMemory {
  peak = 0;
  counted = 0;

  override count(answer: HeldAnswer, bytes: number): boolean {
    const proceeds = super.count(answer, bytes);
    this.counted += bytes;
    this.peak = Math.max(this.peak, this.held);
    return proceeds;
  }
}

/** The vector of input `i` of a request tagged `tag`: every value tells whose it is. */
const vector = (tag: number, i: number): number[] =>
  Array.from({ length: DIMENSIONS }, (_, j) => tag + i / 1000 + j / 1e7);
const inputs = (tag: number) => Array.from({ length: INPUTS }, (_, i) => `request ${tag} input ${i}`);

/** Gemini's batchEmbedContents answer to the inputs `texts`: about 2 MiB for 100. */
function geminiAnswer(texts: string[]): string {
  const embeddings = texts.map((text) => {
    const [, tag, i] = /^request (\d+) input (\d+)$/.exec(text)!;
    return { values: vector(Number(tag), Number(i)) };
  });
  return JSON.stringify({ embeddings });
}

/** A Gemini answering every part whole, and a gateway in front of it counting whole answers in `memory`. */
async function gatewayBefore(
  memory: AnswerMemory,
): Promise<{ kw: TestGateway; provider: Server; sent: string[][] }> {
  const sent: string[][] = [];
  const provider = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const { requests } = JSON.parse(Buffer.concat(chunks).toString()) as {
        requests: Array<{ content: { parts: Array<{ text: string }> } }>;
      };
      const texts = requests.map((r) => r.content.parts[0]!.text);
      sent.push(texts);
      res.on('error', () => undefined);
      res.writeHead(200, { 'content-type': 'application/json' }).end(geminiAnswer(texts));
    });
  });
  provider.listen(0, '127.0.0.1');
  await once(provider, 'listening');
  const { port } = provider.address() as AddressInfo;
  const kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        { id: 'gemini', type: 'gemini', baseUrl: `http://127.0.0.1:${port}/v1beta`, keys: { env: 'P_KEY' } },
      ],
      models: [{ name: 'embed', provider: 'gemini', model: 'gemini-embedding-001', timeoutMs: 60_000 }],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
    undefined,
    undefined,
    memory,
  );
  return { kw, provider, sent };
}

const partBytes = (tag: number) =>
  [0, 100, 200].map((at) => Buffer.byteLength(geminiAnswer(inputs(tag).slice(at, at + 100))));

function expectVectors(answer: { data: Array<{ index: number; embedding: number[] }> }, tag: number): void {
  expect(answer.data).toHaveLength(INPUTS);
  for (const [i, item] of answer.data.entries()) {
    expect(item.index).toBe(i);
    expect(item.embedding[0]).toBeCloseTo(vector(tag, i)[0]!, 6);
  }
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(10);
  }
}

/**
 * An embeddings request sent to Gemini in parts holds every part's answer until its joined answer
 * has gone to its client: the parts count in the process's account of whole answers until then,
 * as one answer sent whole does (they left it as each was read, and 20 such requests at once grew
 * a gateway by 1.36 GB where the same answers whole grew it by 76 MB). They count as one answer:
 * a request in parts keeps its first part's place in the account, so that the oldest request's
 * next part proceeds however much is held, and no request waits on another that waits in turn.
 */
describe("the parts' answers of an embeddings request sent in parts", () => {
  it('stay counted until the client has the joined answer', async () => {
    const memory = new WatchedMemory();
    const { kw, provider } = await gatewayBefore(memory);
    try {
      const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
      expectVectors(
        await client.embeddings.create({ model: 'embed', input: inputs(0), encoding_format: 'float' }),
        0,
      );
      const bytes = partBytes(0).reduce((sum, size) => sum + size);
      expect(memory.counted).toBe(bytes);
      // All three at once: none left the account before the client's response was over.
      expect(memory.peak).toBe(bytes);
      await until(() => memory.held === 0);
    } finally {
      await kw.close();
      provider.close();
    }
  });

  it('past the bound, the oldest request goes on to its last part and every request is answered', async () => {
    // Under one part: every request's answers past the first 64 KiB wait, but the oldest's.
    const bound = MiB;
    const memory = new WatchedMemory(bound);
    const { kw, provider, sent } = await gatewayBefore(memory);
    try {
      const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
      const requests = 6;
      const answers = await Promise.all(
        Array.from({ length: requests }, (_, tag) =>
          client.embeddings.create({ model: 'embed', input: inputs(tag), encoding_format: 'float' }),
        ),
      );
      answers.forEach((answer, tag) => {
        expectVectors(answer, tag);
      });
      expect(sent).toHaveLength(3 * requests);
      // The bound, one request's parts (the oldest's, which always proceeds), and the first 64 KiB
      // of each other answer (which never waits), with the chunk in hand as a connection paused.
      const whole = partBytes(0).reduce((sum, size) => sum + size);
      expect(memory.peak).toBeGreaterThanOrEqual(whole);
      expect(memory.peak).toBeLessThanOrEqual(bound + whole + MiB);
      await until(() => memory.held === 0);
    } finally {
      await kw.close();
      provider.close();
    }
  }, 60_000);
});
