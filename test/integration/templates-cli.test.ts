import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { freshDataDir, runCli, startGatewayProcess, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const template = (name: string, content: string) => ({
  name,
  model: 'fast',
  messages: [{ role: 'user', content }],
  params: { topic: { type: 'string', maxLength: 50 } },
});

function config(fake: FakeProvider | undefined, templates: unknown[]) {
  return {
    auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
    server: { port: 0 },
    admin: { port: 0 },
    providers: [
      { id: 'oa', type: 'openai', baseUrl: fake?.baseUrl ?? 'http://127.0.0.1:9/v1', keys: { env: 'P_KEY' } },
    ],
    models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    templates,
  };
}

async function runTemplate(dataUrl: string, name: string): Promise<number> {
  const res = await request(`${dataUrl}/v1/templates/${name}/run`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ params: { topic: 'tea' } }),
  });
  await res.body.text();
  return res.statusCode;
}

describe('file templates and the templates CLI', () => {
  it('SIGHUP replaces the file templates without a restart; a broken file keeps the running ones', async () => {
    const fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    cleanups.push(() => fake.close());
    const file = writeTempConfig(config(fake, [template('old', 'Tell me about {{topic}}')]));
    const gw = await startGatewayProcess(file, { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY });
    cleanups.push(() => void gw.child.kill('SIGKILL'));
    expect(await runTemplate(gw.dataUrl, 'old')).toBe(200);
    expect(await runTemplate(gw.dataUrl, 'new')).toBe(404);

    writeFileSync(file, JSON.stringify(config(fake, [template('new', 'Write a poem about {{topic}}')])));
    gw.child.kill('SIGHUP');
    await expect.poll(() => gw.lines.filter((l) => l.includes('configuration reloaded')).length).toBe(1);
    expect(await runTemplate(gw.dataUrl, 'new')).toBe(200);
    expect(JSON.stringify(fake.requests.at(-1)!.body)).toContain('Write a poem about tea');
    expect(await runTemplate(gw.dataUrl, 'old')).toBe(404);

    writeFileSync(file, JSON.stringify(config(fake, [template('broken', 'Hi {{nobody}}')])));
    gw.child.kill('SIGHUP');
    await expect.poll(() => gw.lines.some((l) => l.includes('reload refused'))).toBe(true);
    expect(await runTemplate(gw.dataUrl, 'new')).toBe(200);
    expect(gw.child.exitCode).toBeNull();
  });

  it('lists templates under a header row, as keys list and tokens list do', async () => {
    const file = writeTempConfig(config(undefined, [template('about', 'Tell me about {{topic}}')]));
    const env = { KEYWARD_DATA_DIR: freshDataDir() };
    expect((await runCli(['init', '--config', file], { env })).code).toBe(0);
    const list = await runCli(['templates', 'list', '--config', file], { env });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n').map((line) => line.split(/\s{2,}/))).toEqual([
      ['NAME', 'SOURCE', 'MODEL', 'PARAMS'],
      ['about', 'file v0', 'fast', 'topic'],
      [''],
    ]);
  });

  it('refuses at start a template whose model routes nowhere, before the gateway listens', async () => {
    const broken = { ...template('broken', 'Tell me about {{topic}}'), model: 'nosuch' };
    const file = writeTempConfig(config(undefined, [broken]));
    const env = { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY };
    const started = startGatewayProcess(file, env);
    // Should it listen after all, it is stopped rather than left running.
    started.then((gw) => gw.child.kill('SIGKILL')).catch(() => undefined);
    await expect(started).rejects.toThrow(
      'templates[0].model: "nosuch" routes nowhere; name an alias from models (fast), or provider/model with a provider from providers (oa)',
    );
    await expect(started).rejects.toThrow('gateway exited early with code 2');
    const test = await runCli(['templates', 'test', 'broken', '--config', file], { env });
    expect(test.code).toBe(2);
    expect(test.stderr).toContain('templates[0].model');
  });

  it('lists, shows and test-renders templates without calling a provider', async () => {
    const file = writeTempConfig(config(undefined, [template('about', 'Tell me about {{topic}}')]));
    const env = { KEYWARD_DATA_DIR: freshDataDir() };
    expect((await runCli(['init', '--config', file], { env })).code).toBe(0);
    const list = await runCli(['templates', 'list', '--config', file, '--json'], { env });
    expect(JSON.parse(list.stdout).templates).toEqual([
      { name: 'about', source: 'file', version: 0, model: 'fast', params: ['topic'] },
    ]);
    const show = await runCli(['templates', 'show', 'about', '--config', file, '--json'], { env });
    expect(JSON.parse(show.stdout)).toMatchObject({ name: 'about', source: 'file' });

    const test = await runCli(
      ['templates', 'test', 'about', '--config', file, '--json', '--params', '{"topic":"{{topic}} and tea"}'],
      { env },
    );
    expect(test.code).toBe(0);
    expect(JSON.parse(test.stdout).request).toEqual({
      model: 'fast',
      messages: [{ role: 'user', content: 'Tell me about {{topic}} and tea' }],
    });
    const sample = await runCli(['templates', 'test', 'about', '--config', file, '--json'], { env });
    expect(JSON.parse(sample.stdout).params).toEqual({ topic: '<topic>' });

    const bad = await runCli(['templates', 'test', 'about', '--config', file, '--params', '{"topic":1}'], {
      env,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("'topic' must be a string");
    const unknown = await runCli(['templates', 'show', 'nope', '--config', file], { env });
    expect(unknown.code).toBe(1);
  }, 90_000);

  it('creates template-only tokens from the CLI', async () => {
    const file = writeTempConfig(config(undefined, [template('about', 'Tell me about {{topic}}')]));
    const env = { KEYWARD_DATA_DIR: freshDataDir() };
    expect((await runCli(['init', '--config', file], { env })).code).toBe(0);
    const made = await runCli(
      ['tokens', 'create', '--name', 'web', '--templates', 'about', '--config', file, '--json'],
      {
        env,
      },
    );
    expect(made.code).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ scopes: ['templates'], templates: ['about'] });
    const refused = await runCli(
      ['tokens', 'create', '--name', 'x', '--scopes', 'chat', '--templates', 'about', '--config', file],
      { env },
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('templates');
  }, 60_000);
});
