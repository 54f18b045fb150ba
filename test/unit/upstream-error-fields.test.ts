import { describe, expect, it } from 'vitest';
import { mapUpstreamStatus } from '../../src/forward/upstream-errors.js';
import { SecretString } from '../../src/keys/index.js';

const answer = (error: Record<string, unknown>, keys: SecretString[] = []) => {
  const mapped = mapUpstreamStatus(400, {}, JSON.stringify({ error }), keys);
  return { code: mapped.code, param: mapped.param, message: mapped.message };
};

/**
 * Real providers' codes: OpenAI's (the `code` unions of the openai SDK's Responses types, and the
 * Chat Completions ones its docs name), Gemini's `status` names, Azure's, and an HTTP status as a
 * string (OpenRouter, Azure in streams).
 */
const REAL_CODES = [
  'context_length_exceeded',
  'invalid_value',
  'invalid_type',
  'unsupported_parameter',
  'unsupported_value',
  'model_not_found',
  'string_above_max_length',
  'missing_required_parameter',
  'content_policy_violation',
  'server_error',
  'rate_limit_exceeded',
  'invalid_prompt',
  'data_residency_mismatch',
  'vector_store_timeout',
  'invalid_base64_image',
  'image_content_policy_violation',
  'unsupported_image_media_type',
  'failed_to_download_image',
  'response_already_completed',
  'INVALID_ARGUMENT',
  'FAILED_PRECONDITION',
  'DeploymentNotFound',
  'content_filter',
  '429',
];

/** Request field paths as OpenAI names them, old (`messages.[0]`) and new, and Gemini's. */
const REAL_PARAMS = [
  'model',
  'max_completion_tokens',
  'messages[0].content',
  'messages.[0].content',
  'messages[0].content[1]',
  'tools[1].function.name',
  'input[3].content[0].image_url',
  'response_format.json_schema.schema',
  'text.format.schema',
  'reasoning.effort',
  'b64_json',
  'gpt4o',
  'generationConfig.thinkingConfig.thinkingBudget',
  'body.messages.0.content',
];

describe('provider error codes and params passed to the client', () => {
  it.each(REAL_CODES)('keeps the code %s', (code) => {
    expect(answer({ code })).toMatchObject({
      code,
      message: `The provider rejected the request (HTTP 400): ${code}`,
    });
  });

  it.each(REAL_PARAMS)('keeps the param %s', (param) => {
    expect(answer({ code: 'invalid_value', param })).toMatchObject({
      param,
      message: `The provider rejected the request (HTTP 400): invalid_value (param '${param}')`,
    });
  });

  it.each([
    ['a UUID', '3f2a9c1e-5b7d-4e8f-a1b2-c3d4e5f6a7b8'],
    ['a 32-digit hex key', '0123456789abcdef0123456789abcdef'],
    ['an sk- key', 'sk-proj-a9F3kQ7mZ2xW8vB1nL5tR0yU4cE6'],
    ['a key split by underscores', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'],
    ['a key split every four', 'a1b2-c3d4-e5f6-a7b8'],
    ['a number of many digits', '12345678'],
    ['a sentence', 'the key was wrong'],
    ['a word too long for a code', `${'word_'.repeat(20)}end`],
  ])('drops %s as a code', (_what, code) => {
    expect(answer({ code })).toEqual({
      code: 'provider_rejected_request',
      param: null,
      message: 'The provider rejected the request (HTTP 400)',
    });
  });

  it.each([
    ['a UUID', '3f2a9c1e-5b7d-4e8f-a1b2-c3d4e5f6a7b8'],
    ['a UUID in a path', 'messages[0].3f2a9c1e-5b7d-4e8f-a1b2-c3d4e5f6a7b8'],
    ['an sk- key', 'sk-proj-a9F3kQ7mZ2xW8vB1nL5tR0yU4cE6'],
    ['a key split by underscores', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'],
    ['a key split by dots', 'a1b2.c3d4.e5f6.a7b8'],
    ['a long letter run', 'AbCdEfGhIjKlMnOpQrStUvWxYz'],
    ['a path with a space', 'messages[0] content'],
  ])('drops %s as a param', (_what, param) => {
    expect(answer({ code: 'invalid_value', param })).toEqual({
      code: 'invalid_value',
      param: null,
      message: 'The provider rejected the request (HTTP 400): invalid_value',
    });
  });

  it("drops a code or param holding the request's key, or part of it, though shaped like one", () => {
    const key = new SecretString('Canary-Pooled-Key-Charlie-Delta');
    expect(answer({ code: 'Canary-Pooled-Key-Charlie-Delta', param: 'Pooled-Key' }, [key])).toEqual({
      code: 'provider_rejected_request',
      param: null,
      message: 'The provider rejected the request (HTTP 400)',
    });
    expect(answer({ code: 'invalid_value', param: 'pooled.key.charlie' }, [key])).toMatchObject({
      code: 'invalid_value',
      param: 'pooled.key.charlie',
    });
  });
});
