import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createKeyProbe } from '../../src/providers/index.js';

/** A provider of `type` as the configuration gives it. */
function probeOf(type: 'openai' | 'azure-openai' | 'anthropic' | 'gemini') {
  const config = configSchema.parse({
    providers: [
      {
        id: 'p',
        type,
        baseUrl: 'http://127.0.0.1:1',
        keys: { env: 'K' },
        ...(type === 'azure-openai' && { apiVersion: '2024-10-21' }),
      },
    ],
  });
  return createKeyProbe(config.providers[0]!)!;
}

describe("what a 429's rate-limit headers say of the key", () => {
  it('reads Anthropic limits: spent when one has under a twentieth left, room when each has more', () => {
    const { saysKeyExhausted } = probeOf('anthropic');
    const limits = (inputRemaining: string) => ({
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': '49',
      'anthropic-ratelimit-input-tokens-limit': '40000',
      'anthropic-ratelimit-input-tokens-remaining': inputRemaining,
      'anthropic-ratelimit-output-tokens-limit': '8000',
      'anthropic-ratelimit-output-tokens-remaining': '8000',
    });
    expect(saysKeyExhausted!(limits('39000'))).toBe(false);
    expect(saysKeyExhausted!(limits('1999'))).toBe(true);
    expect(saysKeyExhausted!({ 'anthropic-ratelimit-requests-remaining': '0' })).toBe(true);
    expect(saysKeyExhausted!({ 'retry-after': '30' })).toBeUndefined();
    expect(saysKeyExhausted!({ 'anthropic-ratelimit-requests-remaining': '' })).toBeUndefined();
  });

  it.each(['openai', 'azure-openai'] as const)('reads OpenAI limits (%s)', (type) => {
    const { saysKeyExhausted } = probeOf(type);
    expect(
      saysKeyExhausted!({ 'x-ratelimit-limit-tokens': '30000', 'x-ratelimit-remaining-tokens': '20000' }),
    ).toBe(false);
    expect(
      saysKeyExhausted!({
        'x-ratelimit-limit-tokens': '30000',
        'x-ratelimit-remaining-tokens': '20000',
        'x-ratelimit-remaining-requests': '0',
      }),
    ).toBe(true);
    expect(saysKeyExhausted!({})).toBeUndefined();
  });

  it('has nothing to read for Gemini, whose 429s carry no such headers', () => {
    expect(probeOf('gemini').saysKeyExhausted).toBeUndefined();
  });
});

describe('what an error body says of the key or its account', () => {
  const anthropicError = (type: string, message: string) =>
    JSON.stringify({ type: 'error', error: { type, message }, request_id: 'req_011CTest' });
  const CREDIT =
    'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.';

  it("reads Anthropic's account out of credit from its own words, and from a 402, and nothing else", () => {
    const probe = probeOf('anthropic');
    const spent = (status: number, body: string) => probe.saysQuotaSpent!(body, status);
    expect(probe.judgedStatuses).toEqual(new Set([400, 402]));
    expect(spent(400, anthropicError('invalid_request_error', CREDIT))).toBe(true);
    expect(
      spent(
        400,
        anthropicError(
          'invalid_request_error',
          'You have reached your specified API usage limits. You will regain access on 2026-01-01 at 00:00 UTC.',
        ),
      ),
    ).toBe(true);
    expect(spent(402, anthropicError('billing_error', 'There was an issue with billing.'))).toBe(true);
    expect(spent(402, '')).toBe(true);
    // A request's own words quoted in an answer about the request: the client's, not the account's.
    expect(spent(400, anthropicError('invalid_request_error', `messages.0.content.0.text: ${CREDIT}`))).toBe(
      false,
    );
    expect(spent(400, anthropicError('invalid_request_error', 'max_tokens: Field required'))).toBe(false);
    expect(spent(400, CREDIT)).toBe(false);
    expect(spent(404, anthropicError('not_found_error', CREDIT))).toBe(false);
  });

  it("reads Gemini's invalid key from its 400's ErrorInfo, not from a 400 about the request", () => {
    const probe = probeOf('gemini');
    expect(probe.judgedStatuses).toEqual(new Set([400]));
    const invalid = JSON.stringify({
      error: {
        code: 400,
        message: 'API key not valid. Please pass a valid API key.',
        status: 'INVALID_ARGUMENT',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com' },
          },
        ],
      },
    });
    expect(probe.saysKeyInvalid(400, invalid)).toBe(true);
    const aboutRequest = JSON.stringify({
      error: {
        code: 400,
        message: 'API key not valid. Please pass a valid API key.',
        status: 'INVALID_ARGUMENT',
      },
    });
    expect(probe.saysKeyInvalid(400, aboutRequest)).toBe(false);
  });

  it('reads no other status for OpenAI, whose invalid keys are 401s and spent accounts 429s', () => {
    expect(probeOf('openai').judgedStatuses).toBeUndefined();
  });
});
