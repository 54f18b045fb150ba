import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/index.js';
import { configSchema } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { Ceilings } from '../../src/limits/ceilings.js';

const openAI = { maxTokens: ['max_completion_tokens', 'max_tokens'], n: ['n'] };
const ceilings = (input: Record<string, unknown> = {}) =>
  new Ceilings(configSchema.parse({ ceilings: input }).ceilings);
const context = (extra: Record<string, unknown> = {}) => ({
  principal: undefined,
  route: '/v1/chat/completions',
  params: undefined,
  alias: 'fast',
  ...extra,
});
const token = (maxTokens: number | null) =>
  ({ kind: 'token', record: { maxTokens } }) as unknown as Principal;

function refusal(run: () => unknown): GatewayError {
  try {
    run();
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('parameter ceilings', () => {
  it('refuses by default above 65,536 output tokens or 4 choices, naming the field, value and ceiling', () => {
    const error = refusal(() => ceilings().apply({ max_tokens: 1_000_000_000 }, openAI, context()));
    expect(error.status).toBe(400);
    expect(error.message).toBe(
      "max_tokens 1000000000 is above the gateway's ceiling of 65536; ask for at most 65536",
    );
    expect(error.code).toBe('max_tokens_exceeded');
    expect(error.param).toBe('max_tokens');
    const n = refusal(() => ceilings().apply({ n: 128 }, openAI, context()));
    expect(n).toMatchObject({ code: 'n_exceeded', param: 'n' });
    expect(ceilings().apply({ max_completion_tokens: 65_536, n: 4 }, openAI, context()).clamped).toEqual([]);
  });

  it('clamps when configured, per route, and reports what it lowered', () => {
    const limits = ceilings({
      onExceed: 'clamp',
      routes: { '/v1/messages': { maxTokens: 1000, onExceed: 'reject' } },
    });
    expect(limits.apply({ max_tokens: 100_000, n: 9 }, openAI, context())).toEqual({
      body: { max_tokens: 65_536, n: 4 },
      clamped: ['max_tokens=65536', 'n=4'],
    });
    const messages = refusal(() =>
      limits.apply(
        { max_tokens: 2000 },
        { maxTokens: ['max_tokens'], n: [] },
        context({ route: '/v1/messages' }),
      ),
    );
    expect(messages.message).toContain("above the gateway's ceiling for /v1/messages of 1000");
  });

  it("holds a token to its own maxTokens (refusing), fills it when nothing was asked, and lowers to an alias's max", () => {
    const capped = context({ principal: token(50) });
    expect(refusal(() => ceilings().apply({ max_tokens: 51 }, openAI, capped)).message).toContain(
      "this token's ceiling of 50",
    );
    expect(ceilings().apply({}, openAI, capped).body).toEqual({ max_completion_tokens: 50 });
    const alias = context({ params: { maxTokens: { default: 256, max: 1000 }, n: { max: 1 } } });
    expect(ceilings().apply({}, openAI, alias).body).toEqual({ max_completion_tokens: 256 });
    expect(ceilings().apply({ max_tokens: 5000, n: 3 }, openAI, alias)).toEqual({
      body: { max_tokens: 1000, n: 1 },
      clamped: ['max_tokens=1000', 'n=1'],
    });
    // The alias default never outgrows a token's cap.
    expect(ceilings().apply({}, openAI, { ...alias, principal: token(50) }).body).toEqual({
      max_completion_tokens: 50,
    });
    // Above a ceiling, even a refusing one, the default is lowered to it: its client asked for nothing.
    const roomy = context({ params: { maxTokens: { default: 100_000 } } });
    expect(ceilings().apply({}, openAI, roomy)).toEqual({
      body: { max_completion_tokens: 65_536 },
      clamped: [],
      filled: { limit: 65_536, owner: "the gateway's ceiling" },
    });
    expect(ceilings().apply({}, openAI, alias).filled).toEqual({
      limit: 256,
      owner: "the default of the model 'fast' (params.maxTokens.default)",
    });
    const strict = context({ params: { maxTokens: { max: 1000 }, onExceed: 'reject' } });
    expect(refusal(() => ceilings().apply({ max_tokens: 5000 }, openAI, strict)).message).toContain(
      "the ceiling of the model 'fast' of 1000",
    );
  });
});
