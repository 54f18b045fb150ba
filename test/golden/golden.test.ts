import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';
import { type ReplayAnswer, ReplayProvider } from './replay-provider.js';

/**
 * The translation corpus: every file under `cases/` is one exchange through a real gateway. The
 * client's body goes to `path`; the provider (a replay server) must receive exactly `upstream`
 * (path and JSON body) and answers `answer`; the client must receive exactly `response` (JSON, or
 * the stream's bytes). Generated values are normalised on both sides: `created` timestamps to 0
 * and ids the gateway makes up (`chatcmpl-`, `msg_`, `call_` + 24 hex digits) to `…GENERATED`.
 */
interface GoldenCase {
  name: string;
  /** Which provider of the gateway config answers: the client names `<provider>/<model>`. */
  provider: 'openai' | 'anthropic' | 'gemini' | 'ollama';
  path: '/v1/chat/completions' | '/v1/messages' | '/v1/messages/count_tokens' | '/v1/responses';
  headers?: Record<string, string>;
  request: Record<string, unknown>;
  /** Absent when the gateway must refuse the request without calling the provider. */
  upstream?: { path: string; body: unknown; headers?: Record<string, string> };
  answer?: ReplayAnswer;
  /** What the provider answers the gateway's key probe (GET of its model list); default: 200, the key works. */
  probe?: ReplayAnswer;
  response: { status: number; json?: unknown; stream?: string };
}

const here = dirname(fileURLToPath(import.meta.url));
const casesDir = join(here, 'cases');

function loadCases(): Array<{ file: string; golden: GoldenCase }> {
  const out: Array<{ file: string; golden: GoldenCase }> = [];
  for (const dir of readdirSync(casesDir, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const file of readdirSync(join(casesDir, dir.name)).sort()) {
      if (!file.endsWith('.json')) continue;
      const golden = JSON.parse(readFileSync(join(casesDir, dir.name, file), 'utf8')) as GoldenCase;
      out.push({ file: `${dir.name}/${file}`, golden });
    }
  }
  return out;
}

const GENERATED = /\b(chatcmpl-|msg_|call_|resp_|fc_|rs_)(?:[0-9a-f]{12})?[0-9a-f]{24}(?![0-9a-f])/g;
const normalise = (text: string): string =>
  text
    .replace(GENERATED, '$1GENERATED')
    .replace(/"created":\d+/g, '"created":0')
    .replace(/"created_at":\d+/g, '"created_at":0');

const PROVIDERS = ['openai', 'anthropic', 'gemini', 'ollama'] as const;
const BASE_PATHS = { openai: '/v1', anthropic: '/v1', gemini: '/v1beta', ollama: '' } as const;

describe('translation golden corpus', () => {
  const cases = loadCases();
  const replay = new ReplayProvider();
  let kw: TestGateway;

  const start = () =>
    startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: PROVIDERS.map((id) => ({
          id,
          type: id,
          baseUrl: `${replay.url}${BASE_PATHS[id]}`,
          ...(id !== 'ollama' && { keys: { env: 'PROVIDER_KEY' } }),
          // One attempt: an error case's answer is the client's answer, not a retry.
          retries: { maxAttempts: 1 },
        })),
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );

  beforeAll(async () => {
    await replay.start();
    kw = await start();
  });
  afterAll(async () => {
    await kw?.close();
    await replay.close();
  });

  it('has cases', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  for (const { file, golden } of cases) {
    it(`${file}: ${golden.name}`, async () => {
      if (golden.answer) replay.load(golden.answer, golden.probe);
      else replay.load({ status: 500, json: { error: 'the provider must not be called' } });
      const res = await request(`${kw.dataUrl}${golden.path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${CLIENT_KEY}`,
          ...golden.headers,
        },
        body: JSON.stringify(golden.request),
      });
      let raw = '';
      for await (const chunk of res.body) {
        raw += (chunk as Buffer).toString('utf8');
        replay.released();
      }
      const text = normalise(raw);

      if (golden.upstream) {
        expect(replay.received).toHaveLength(1);
        const sent = replay.received[0]!;
        expect(sent.path).toBe(golden.upstream.path);
        expect(JSON.parse(normalise(sent.raw))).toEqual(golden.upstream.body);
        for (const [name, value] of Object.entries(golden.upstream.headers ?? {})) {
          expect(sent.headers[name]).toBe(value.replace('$PROVIDER_KEY', PROVIDER_KEY));
        }
      } else {
        expect(replay.received).toHaveLength(0);
      }

      expect(res.statusCode).toBe(golden.response.status);
      if (golden.response.stream !== undefined) expect(text).toBe(golden.response.stream);
      else expect(JSON.parse(text)).toEqual(golden.response.json);

      // A 401/403 may bench the provider key and a 429 cools it: later cases get a fresh gateway.
      const status = golden.answer?.status ?? 200;
      if (status === 401 || status === 403 || status === 429) {
        await kw.close();
        kw = await start();
      }
    });
  }
});
