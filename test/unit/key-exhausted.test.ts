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
