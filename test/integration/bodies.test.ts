import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { CLIENT_KEY, type Stack, startStack } from '../support/setup.js';

async function send(url: string, method: 'POST' | 'DELETE', headers: Record<string, string>, body?: string) {
  const res = await request(url, { method, headers, ...(body !== undefined && { body }) });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
}

describe('request bodies as clients send them', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { KEYWARD_ADMIN_KEY: ADMIN_KEY } });
  });
  afterAll(() => stack.close());

  const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

  it('revokes a token on a DELETE that says JSON but carries no body', async () => {
    const minted = await adminCall(stack.kw.adminUrl, 'POST', '/admin/tokens', { name: 'doomed' });
    expect(minted.status).toBe(201);
    const res = await send(`${stack.kw.adminUrl}/admin/tokens/${minted.json.id}`, 'DELETE', admin);
    expect(res.status).toBe(200);
    expect(res.json.revokedAt).toEqual(expect.any(String));
    const chat = await send(
      `${stack.kw.dataUrl}/v1/chat/completions`,
      'POST',
      { authorization: `Bearer ${minted.json.token}`, 'content-type': 'application/json' },
      JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(chat.status).toBe(401);
    expect(chat.json.error.code).toBe('token_revoked');
  });

  it('accepts a body-less POST with a JSON content type where the route takes no body', async () => {
    const res = await send(`${stack.kw.adminUrl}/admin/keys/refresh`, 'POST', admin);
    expect(res.status).toBe(200);
    expect(res.json.refreshed).toEqual([{ provider: 'fake', ok: true }]);
  });

  it('still says the body is empty where the route needs one', async () => {
    const created = await send(`${stack.kw.adminUrl}/admin/tokens`, 'POST', admin, '');
    expect(created.status).toBe(400);
    expect(created.json.error).toMatchObject({
      code: 'empty_body',
      message: 'Request body is empty; send a JSON object',
    });
    const chat = await send(`${stack.kw.dataUrl}/v1/chat/completions`, 'POST', {
      authorization: `Bearer ${CLIENT_KEY}`,
      'content-type': 'application/json',
    });
    expect(chat.status).toBe(400);
    expect(chat.json.error.code).toBe('empty_body');
  });

  it('answers 415 naming application/json to a JSON body sent as text/plain', async () => {
    const body = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] });
    for (const [url, credential] of [
      [`${stack.kw.dataUrl}/v1/chat/completions`, CLIENT_KEY],
      [`${stack.kw.adminUrl}/admin/tokens`, ADMIN_KEY],
    ] as const) {
      const res = await send(
        url,
        'POST',
        { authorization: `Bearer ${credential}`, 'content-type': 'text/plain;charset=UTF-8' },
        body,
      );
      expect(res.status).toBe(415);
      expect(res.json.error.code).toBe('unsupported_media_type');
      expect(res.json.error.message).toContain('Content-Type: application/json');
    }
    // What `fetch` sends for a string body, through the Anthropic surface: its own envelope.
    const messages = await send(
      `${stack.kw.dataUrl}/v1/messages`,
      'POST',
      { 'x-api-key': CLIENT_KEY, 'content-type': 'text/plain;charset=UTF-8' },
      body,
    );
    expect(messages.status).toBe(415);
    expect(messages.json.type).toBe('error');
  });
});
