import { describe, expect, it } from 'vitest';
import { DEFAULT_PRICES, PriceTable } from '../../src/accounting/pricing.js';

describe('price lookup', () => {
  const table = new PriceTable({ 'acme/house-model': { input: 7, output: 9 } });

  it('prices a dated or versioned name as the model it versions', () => {
    expect(table.find('openai', 'gpt-4o-2024-08-06')).toBe(DEFAULT_PRICES['gpt-4o']);
    expect(table.find('openai', 'gpt-5-mini-2025-08-07')).toBe(DEFAULT_PRICES['gpt-5-mini']);
    expect(table.find('openai', 'gpt-5-chat-latest')).toBe(DEFAULT_PRICES['gpt-5-chat']);
    expect(table.find('anthropic', 'claude-sonnet-4-5-20250929')).toBe(DEFAULT_PRICES['claude-sonnet-4']);
    expect(table.find('anthropic', 'claude-opus-4-5-20251101')).toBe(DEFAULT_PRICES['claude-opus-4-5']);
    expect(table.find('vertex', 'claude-opus-4@20250514')).toBe(DEFAULT_PRICES['claude-opus-4']);
    // Opus 4.6 and later are priced as themselves, not as the Opus 4 they version (three times dearer).
    expect(table.find('anthropic', 'claude-opus-4-6')).toMatchObject({ input: 5, output: 25 });
    expect(table.find('anthropic', 'claude-opus-4-8-20260601')).toMatchObject({ input: 5, output: 25 });
    expect(table.find('anthropic', 'claude-opus-5-5')).toMatchObject({ input: 4, output: 20 });
    expect(table.find('gemini', 'gemini-2.5-flash-lite-preview-06-17')).toBe(
      DEFAULT_PRICES['gemini-2.5-flash-lite'],
    );
    expect(table.find('acme', 'house-model')).toEqual({ input: 7, output: 9 });
  });

  it('never prices a variant as its cheaper base: it has its own entry or none', () => {
    expect(table.find('openai', 'gpt-5-pro-2025-10-06')).toBe(DEFAULT_PRICES['gpt-5-pro']);
    expect(table.find('openai', 'o3-pro')).toBe(DEFAULT_PRICES['o3-pro']);
    // A snapshot priced apart from its base: gpt-4o's first, at $5 and $15, not gpt-4o's $2.50 and $10.
    expect(table.find('openai', 'gpt-4o-2024-05-13')).toEqual({ input: 5, output: 15 });
    expect(table.find('azure', 'gpt-4o-2024-11-20')).toBe(DEFAULT_PRICES['gpt-4o']);
    // Unpriced, so a credential held to a budget is refused it rather than charged gpt-4o's price.
    expect(table.find('openai', 'gpt-4o-realtime-preview')).toBeUndefined();
    expect(table.find('openai', 'gpt-5-turbo-ultra')).toBeUndefined();
    expect(table.find('acme', 'house-model-large')).toBeUndefined();
  });

  it('charges cache reads and writes at their own prices', () => {
    const usage = { inputTokens: 1_000, outputTokens: 10, cachedTokens: 100, cacheCreationTokens: 300 };
    // 600 × 3 + 100 × 0.3 + 300 × 3.75 + 10 × 15
    expect(table.costMicros('anthropic', 'claude-sonnet-4', usage)).toBe(3_105);
    expect(table.costMicros('anthropic', 'claude-sonnet-4', { ...usage, cacheCreation1hTokens: 300 })).toBe(
      1_800 + 30 + 1_800 + 150,
    );
    expect(table.costMicros('acme', 'unknown', usage)).toBe(0);
  });

  it('charges a prompt above 200,000 tokens the long-context rates, cache included, where the model has them', () => {
    const short = { inputTokens: 200_000, outputTokens: 1_000 };
    const long = { inputTokens: 200_001, outputTokens: 1_000, cachedTokens: 100_000 };
    // 200,000 × 3 + 1,000 × 15
    expect(table.costMicros('anthropic', 'claude-sonnet-4-5', short)).toBe(615_000);
    // (100,001 × 3 + 100,000 × 0.3) × 2 + 1,000 × 15 × 1.5
    expect(table.costMicros('anthropic', 'claude-sonnet-4-5', long)).toBe(660_006 + 22_500);
    // (100,001 × 1.25 + 100,000 × 0.125) × 2 + 1,000 × 10 × 1.5: $0.25 a cached token above 200,000, as listed
    expect(table.costMicros('gemini', 'gemini-2.5-pro', long)).toBe(Math.round(275_002.5 + 15_000));
    // No such tier: the same rates however long.
    expect(table.costMicros('openai', 'gpt-4.1', long)).toBe(100_001 * 2 + 100_000 * 0.5 + 1_000 * 8);
    const configured = new PriceTable({
      house: { input: 1, output: 1, longContext: { above: 10, input: 3, output: 4 } },
    });
    expect(configured.costMicros('acme', 'house', { inputTokens: 11, outputTokens: 1 })).toBe(33 + 4);
  });

  it("charges Gemini's cache reads at the rates Google lists (ai.google.dev/gemini-api/docs/pricing)", () => {
    const usage = { inputTokens: 1_000_000, outputTokens: 0, cachedTokens: 1_000_000 };
    const audio = { ...usage, audioTokens: 1_000_000, cachedAudioTokens: 1_000_000 };
    // Text, image and video read from the cache, then audio: $0.03 and $0.10 at 2.5 Flash, $0.01 and
    // $0.03 at 2.5 Flash-Lite, $0.025 and $0.175 at 2.0 Flash, $0.125 at 2.5 Pro (audio as text).
    expect(table.costMicros('gemini', 'gemini-2.5-flash', usage)).toBe(30_000);
    expect(table.costMicros('gemini', 'gemini-2.5-flash', audio)).toBe(100_000);
    expect(table.costMicros('gemini', 'gemini-2.5-flash-lite', usage)).toBe(10_000);
    expect(table.costMicros('gemini', 'gemini-2.5-flash-lite', audio)).toBe(30_000);
    expect(table.costMicros('gemini', 'gemini-2.0-flash', usage)).toBe(25_000);
    expect(table.costMicros('gemini', 'gemini-2.0-flash', audio)).toBe(175_000);
    expect(
      table.costMicros('gemini', 'gemini-2.5-pro', { ...usage, inputTokens: 200_000, cachedTokens: 200_000 }),
    ).toBe(25_000);
  });

  it('charges spoken output at its own rate, the text one where a price names none', () => {
    const usage = { inputTokens: 100, outputTokens: 1_000, audioOutputTokens: 900 };
    // 100 × 2.50 + 100 × 10 + 900 × 80; 100 × 0.15 + 100 × 0.60 + 900 × 20; 100 × 2.50 + 100 × 10 + 900 × 64
    expect(table.costMicros('openai', 'gpt-4o-audio-preview-2025-06-03', usage)).toBe(73_250);
    expect(table.costMicros('openai', 'gpt-4o-mini-audio-preview', usage)).toBe(18_075);
    expect(table.costMicros('openai', 'gpt-audio-2025-08-28', usage)).toBe(58_850);
    expect(table.costMicros('openai', 'gpt-4o', usage)).toBe(10_250);
    // Above a long-context threshold at its output multiple, as the text output is.
    const house = new PriceTable({
      house: { input: 1, output: 2, audioOutput: 8, longContext: { above: 10, input: 1, output: 3 } },
    });
    expect(
      house.costMicros('acme', 'house', { inputTokens: 11, outputTokens: 10, audioOutputTokens: 4 }),
    ).toBe(11 + (6 * 2 + 4 * 8) * 3);
  });

  it('charges audio input at its own rate, the text one where a price names none', () => {
    const usage = { inputTokens: 1_000, outputTokens: 0, audioTokens: 900 };
    // 900 × 1 + 100 × 0.30; 900 × 0.70 + 100 × 0.10; 900 × 0.30 + 100 × 0.10
    expect(table.costMicros('gemini', 'gemini-2.5-flash', usage)).toBe(930);
    expect(table.costMicros('gemini', 'gemini-2.0-flash-001', usage)).toBe(640);
    expect(table.costMicros('gemini', 'gemini-2.5-flash-lite', usage)).toBe(280);
    // Gemini 2.5 Pro bills audio as text.
    expect(table.costMicros('gemini', 'gemini-2.5-pro', usage)).toBe(1_250);
    // Cached audio at the audio rate discounted as the cache discounts text (a quarter here), and
    // above 200,000 tokens at the long-context multiple like every input rate.
    const cached = { ...usage, cachedTokens: 500, cachedAudioTokens: 400 };
    const house = new PriceTable({
      house: {
        input: 2,
        audioInput: 8,
        cachedInput: 0.5,
        output: 1,
        longContext: { above: 999, input: 2, output: 1 },
      },
    });
    // (0 × 2 + 500 × 8 + 100 × 0.5 + 400 × 2) × 2
    expect(house.costMicros('acme', 'house', cached)).toBe(9_700);
  });
});
