import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_KEY, type Stack, startStack } from '../support/setup.js';

const ADMIN_KEY = 'kw-admin-key-5d4c3b2a1f0e9d8c';

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe('admin listener', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { KEYWARD_ADMIN_KEY: ADMIN_KEY } });
  });
  afterAll(() => stack.close());

  it('serves health and readiness without a credential', async () => {
    expect((await get(`${stack.kw.adminUrl}/health`)).status).toBe(200);
    expect(JSON.parse((await get(`${stack.kw.adminUrl}/ready`)).text)).toEqual({ status: 'ready' });
  });

  it('serves Prometheus metrics to the admin key only', async () => {
    expect((await get(`${stack.kw.adminUrl}/metrics`)).status).toBe(401);
    expect(
      (await get(`${stack.kw.adminUrl}/metrics`, { authorization: `Bearer ${CLIENT_KEY}` })).status,
    ).toBe(401);

    await request(`${stack.kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
    }).then((r) => r.body.dump());

    const metrics = await get(`${stack.kw.adminUrl}/metrics`, { authorization: `Bearer ${ADMIN_KEY}` });
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.text).toMatch(
      /keyward_requests_total\{route="\/v1\/chat\/completions",model="fast",provider="fake",status="200"\} 1/,
    );
    expect(metrics.text).toMatch(
      /keyward_request_duration_seconds_bucket\{.*route="\/v1\/chat\/completions"/,
    );
    expect(metrics.text).toMatch(/keyward_upstream_latency_seconds_count\{provider="fake",status="200"\} 1/);
    expect(metrics.text).toMatch(/keyward_in_flight_requests\{route="\/v1\/chat\/completions"\} 0/);
    expect(metrics.text).toMatch(/keyward_provider_key_requests_total\{provider="fake",key="[^"]+"\} 1/);
    expect(metrics.text).toContain('keyward_process_cpu_seconds_total');
  });

  it('labels configured aliases by name after clients have filled the model labels with made-up names', async () => {
    const own = await startStack({ env: { KEYWARD_ADMIN_KEY: ADMIN_KEY } });
    const chat = (model: string) =>
      request(`${own.kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      }).then((r) => r.body.dump());
    for (let i = 0; i < 205; i++) await chat(`fake/junk-${i}`);
    await chat('fast');
    const metrics = await get(`${own.kw.adminUrl}/metrics`, { authorization: `Bearer ${ADMIN_KEY}` });
    await own.close();
    const requests = metrics.text.split('\n').filter((line) => line.startsWith('keyward_requests_total{'));
    // The names clients made up stay bounded; the alias keeps its own label.
    expect(requests.some((line) => line.includes('model="other"'))).toBe(true);
    expect(requests.filter((line) => line.includes('model="fake/junk-')).length).toBeLessThanOrEqual(200);
    expect(metrics.text).toMatch(
      /keyward_requests_total\{route="\/v1\/chat\/completions",model="fast",provider="fake",status="200"\} 1/,
    );
  });

  it('says a query number that is none (abc, 1e400) is not a finite number', async () => {
    for (const limit of ['abc', '1e400']) {
      const res = await get(`${stack.kw.adminUrl}/admin/audit?limit=${limit}`, {
        authorization: `Bearer ${ADMIN_KEY}`,
      });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text).error.message).toBe(
        "Invalid type for 'limit': expected number, received not a finite number",
      );
    }
  });

  it('keeps the two listeners apart', async () => {
    const onAdmin = await get(`${stack.kw.adminUrl}/v1/models`, { authorization: `Bearer ${ADMIN_KEY}` });
    expect(onAdmin.status).toBe(404);
    const onData = await get(`${stack.kw.dataUrl}/metrics`, { authorization: `Bearer ${CLIENT_KEY}` });
    expect(onData.status).toBe(404);
    expect(JSON.parse(onData.text).error.code).toBe('unknown_route');
  });
});
