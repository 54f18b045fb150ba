import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { Ceilings } from '../../src/limits/ceilings.js';

const anthropic = { maxTokens: ['max_tokens'], n: [] };
const gemini = { maxTokens: ['generationConfig.maxOutputTokens'], n: ['generationConfig.candidateCount'] };
const ceilings = (input: Record<string, unknown> = {}) =>
  new Ceilings(configSchema.parse({ ceilings: input }).ceilings);
const context = (extra: Record<string, unknown> = {}) => ({
  principal: undefined,
  route: '/v1/messages',
  params: undefined,
  alias: 'claude',
  ...extra,
});

describe('thinking budgets against the output ceilings', () => {
  it("leaves Gemini's dynamic (-1) and off (0) budgets alone, whatever the ceiling", () => {
    const tight = ceilings({ maxTokens: 100 });
    for (const thinkingBudget of [-1, 0]) {
      const body = { generationConfig: { thinkingConfig: { thinkingBudget } } };
      expect(tight.apply(body, gemini, context()).clamped).toEqual([]);
    }
  });

  it('refuses, naming the budget, when no budget Anthropic takes fits below a clamping ceiling', () => {
    let refused: unknown;
    try {
      ceilings({ maxTokens: 1000, onExceed: 'clamp' }).apply(
        { max_tokens: 900, thinking: { type: 'enabled', budget_tokens: 2000 } },
        anthropic,
        context(),
      );
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({
      status: 400,
      param: 'thinking.budget_tokens',
      code: 'max_tokens_exceeded',
    });
  });

  it('leaves the client body as it came when it lowers a nested budget', () => {
    const body = { generationConfig: { temperature: 0.5, thinkingConfig: { thinkingBudget: 90_000 } } };
    const { body: lowered } = ceilings({ onExceed: 'clamp' }).apply(body, gemini, context());
    expect(lowered.generationConfig).toEqual({
      temperature: 0.5,
      thinkingConfig: { thinkingBudget: 65_535 },
    });
    expect(body.generationConfig.thinkingConfig.thinkingBudget).toBe(90_000);
  });

  it('tells the tightest ceiling of a body that names no output limit, for a target that fills one in', () => {
    const limits = ceilings({ routes: { '/v1/messages': { maxTokens: 30_000 } } });
    const alias = context({ params: { maxTokens: { max: 20_000 } } });
    expect(limits.apply({ model: 'claude' }, anthropic, alias).generatedCeiling).toBe(20_000);
    expect(limits.apply({ model: 'claude' }, anthropic, context()).generatedCeiling).toBe(30_000);
    expect(limits.apply({ max_tokens: 10 }, anthropic, alias).generatedCeiling).toBeUndefined();
  });
});
