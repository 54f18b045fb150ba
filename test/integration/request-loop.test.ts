import { request } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { GATEWAY_ID } from '../../src/upstream/via.js';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { freePort } from '../support/free-port.js';
import { logRecords, startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RunningGateway, startWorkers, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY } from '../support/setup.js';

let kw: TestGateway | undefined;
let fake: FakeOpenAI | undefined;
afterEach(async () => {
  await kw?.close();
  await fake?.close();
  kw = fake = undefined;
});

type ProviderInput = NonNullable<ConfigInput['providers']>[number];

/**
 * A gateway whose one provider is its own data listener, as the quick start's exported
 * `ANTHROPIC_BASE_URL=http://127.0.0.1:8088` makes it: the provider key is the gateway's own client
 * key (`ANTHROPIC_API_KEY=$KEYWARD_API_KEY`), so every looped request authenticates, and a wildcard
 * alias (the no-file mode's `claude-*`) routes the model name it sends on to the same provider.
 */
async function selfLooping(
  provider: Omit<ProviderInput, 'id' | 'baseUrl'>,
  family: string,
): Promise<TestGateway> {
  const port = await freePort();
  return startTestGateway(
    {
      server: { port },
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        {
          id: 'self',
          baseUrl: `http://127.0.0.1:${port}/v1`,
          keys: { env: 'SELF_KEY' },
          // Bounds the test without the loop guard: the outermost request gives up after this.
          timeouts: { totalMs: 4000 },
          ...provider,
        } as ProviderInput,
      ],
      models: [{ name: family, provider: 'self', model: '*' }],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, SELF_KEY: CLIENT_KEY },
  );
}

/** The request log lines of `route` the gateway wrote, once at least `least` are in. */
async function handled(gateway: TestGateway, route: string, least: number): Promise<number> {
  const count = () => logRecords(gateway.logs).filter((line) => line.route === route).length;
  await vi.waitFor(() => expect(count()).toBeGreaterThanOrEqual(least));
  return count();
}

/** The OpenAI envelope, or Anthropic's (`type: 'error'`). */
interface ErrorAnswer {
  type?: string;
  error: { code?: string; type: string; message: string };
}

async function post(url: string, headers: Record<string, string>, body: unknown) {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, json: (await res.body.json()) as ErrorAnswer };
}

const chatBody = (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }] });

describe('a provider baseUrl that leads back to the gateway', () => {
  it('answers one chat request 508 loop_detected after a single nested request', async () => {
    kw = await selfLooping({ type: 'openai-compatible' }, 'gpt-*');
    const answer = await post(
      `${kw.dataUrl}/v1/chat/completions`,
      { authorization: `Bearer ${CLIENT_KEY}` },
      chatBody('gpt-4o-mini'),
    );
    expect(answer.status).toBe(508);
    expect(answer.json.error.code).toBe('loop_detected');
    expect(answer.json.error.message).toContain("A provider's baseUrl likely points at a Keyward gateway");
    // The client's request and the one it sent to itself, refused on arrival.
    expect(await handled(kw, '/v1/chat/completions', 2)).toBeLessThanOrEqual(3);
    const statuses = logRecords(kw.logs)
      .filter((line) => line.route === '/v1/chat/completions')
      .map((line) => line.status);
    expect(statuses).toEqual([508, 508]);
  });

  it("answers Claude Code's request on the Anthropic surface in Anthropic's envelope", async () => {
    kw = await selfLooping({ type: 'anthropic' }, 'claude-*');
    const answer = await post(
      `${kw.dataUrl}/v1/messages`,
      { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' },
      { ...chatBody('claude-sonnet-4-5'), max_tokens: 64 },
    );
    expect(answer.status).toBe(508);
    expect(answer.json.type).toBe('error');
    expect(answer.json.error.type).toBe('api_error');
    expect(answer.json.error.message).toContain('ANTHROPIC_BASE_URL');
    expect(await handled(kw, '/v1/messages', 2)).toBeLessThanOrEqual(3);
  });
});

describe('x-keyward-via', () => {
  const FOREIGN = ['0123456789abcdef', 'fedcba9876543210'];

  async function gatewayBeforeFake(config: Partial<ConfigInput> = {}): Promise<TestGateway> {
    fake = await startFakeOpenAI();
    return startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [{ id: 'vllm', type: 'openai-compatible', baseUrl: `${fake.url}/v1` }],
        ...config,
      },
      { KEYWARD_API_KEY: CLIENT_KEY },
    );
  }

  const chat = (gateway: TestGateway, via?: string) =>
    post(
      `${gateway.dataUrl}/v1/chat/completions`,
      { authorization: `Bearer ${CLIENT_KEY}`, ...(via !== undefined && { 'x-keyward-via': via }) },
      chatBody('vllm/llama'),
    );

  it('names the gateways a request passed through, this one last, on every upstream request', async () => {
    kw = await gatewayBeforeFake();
    expect((await chat(kw)).status).toBe(200);
    expect((await chat(kw, FOREIGN.join(', '))).status).toBe(200);
    // Not as a gateway writes it: not read, and not passed on.
    expect((await chat(kw, 'x, y')).status).toBe(200);
    const sent = fake!.requests
      .filter((r) => r.url === '/v1/chat/completions')
      .map((r) => r.headers['x-keyward-via']);
    expect(sent.slice(0, 3)).toEqual([GATEWAY_ID, `${FOREIGN.join(', ')}, ${GATEWAY_ID}`, GATEWAY_ID]);

    // The gateway's own requests (a model list) name it too.
    const models = await request(`${kw.dataUrl}/v1/models`, {
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
    });
    await models.body.dump();
    const lists = fake!.requests.filter((r) => r.url === '/v1/models');
    expect(lists.length).toBeGreaterThan(0);
    expect(lists.map((r) => r.headers['x-keyward-via'])).toEqual(lists.map(() => GATEWAY_ID));
  });

  it('refuses a request that passed through 10 gateways before any provider call, spending no limit', async () => {
    kw = await gatewayBeforeFake({ rateLimits: { staticKeys: { rpm: 1 } } });
    const ten = Array.from({ length: 10 }, (_, i) => i.toString(16).repeat(16)).join(', ');
    for (let i = 0; i < 3; i++) {
      const refused = await chat(kw, ten);
      expect(refused.status).toBe(508);
      expect(refused.json.error.code).toBe('loop_detected');
    }
    // Refused whatever the credential, and never counted as a failed authentication.
    const anonymous = await post(
      `${kw.dataUrl}/v1/chat/completions`,
      { 'x-keyward-via': ten },
      chatBody('vllm/llama'),
    );
    expect(anonymous.status).toBe(508);
    expect(fake!.requests).toHaveLength(0);
    expect(await kw.gateway.metrics.render()).toMatch(/^keyward_auth_failures_total 0$/m);

    // Nine are fine; the minute's one request was still there to take.
    expect((await chat(kw, ten.split(', ').slice(1).join(', '))).status).toBe(200);
    expect((await chat(kw)).status).toBe(429);
  });
});

describe('a provider baseUrl that leads back to a gateway of several workers', () => {
  let running: RunningGateway | undefined;
  afterEach(async () => {
    running?.child.kill('SIGTERM');
    await running?.exited;
    running = undefined;
  });

  it('passes through each worker at most once before one refuses it', async () => {
    const workers = 3;
    const port = await freePort();
    const config = writeTempConfig({
      server: { port },
      admin: { port: 0 },
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        {
          id: 'self',
          type: 'openai-compatible',
          baseUrl: `http://127.0.0.1:${port}/v1`,
          keys: { env: 'SELF_KEY' },
          timeouts: { totalMs: 4000 },
        },
      ],
      models: [{ name: 'gpt-*', provider: 'self', model: '*' }],
    });
    running = await startWorkers(config, { KEYWARD_API_KEY: CLIENT_KEY, SELF_KEY: CLIENT_KEY }, workers);
    const answer = await post(
      `${running.dataUrl}/v1/chat/completions`,
      { authorization: `Bearer ${CLIENT_KEY}` },
      chatBody('gpt-4o-mini'),
    );
    expect(answer.status).toBe(508);
    expect(answer.json.error.code).toBe('loop_detected');
    const chats = () =>
      running!.lines.filter(
        (line) => (JSON.parse(line) as { route?: string }).route === '/v1/chat/completions',
      );
    await vi.waitFor(() => expect(chats().length).toBeGreaterThanOrEqual(2));
    // Each worker forwards it once at most; the next one it reaches is already named.
    expect(chats().length).toBeLessThanOrEqual(workers + 1);
  });
});
