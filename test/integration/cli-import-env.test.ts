import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeProvider } from '../support/fake-providers/server.js';
import { freshDataDir, runCli, startGatewayProcess } from '../support/process.js';
import { CLIENT_KEY } from '../support/setup.js';

const OPENAI_KEY = 'sk-import-env-openai-0123456789abcdef';
const ANTHROPIC_KEY = 'sk-ant-import-env-0123456789abcdef';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('keyward keys import-env without a config file', { timeout: 90_000 }, () => {
  it('refuses to store keys nothing would use, then writes the config that uses them', async () => {
    const openai = await startFakeProvider('openai', { keys: [OPENAI_KEY] });
    const anthropic = await startFakeProvider('anthropic', { keys: [ANTHROPIC_KEY] });
    cleanups.push(
      () => openai.close(),
      () => anthropic.close(),
    );
    const dataDir = freshDataDir();
    const env = {
      KEYWARD_DATA_DIR: dataDir,
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_BASE_URL: openai.baseUrl,
      ANTHROPIC_API_KEY: ANTHROPIC_KEY,
      ANTHROPIC_BASE_URL: anthropic.url,
    };
    expect((await runCli(['init'], { env })).code).toBe(0);

    const bare = await runCli(['keys', 'import-env'], { env });
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('stored keys would go unused');
    expect(bare.stderr).toContain('--write-config keyward.yaml');
    expect(JSON.parse((await runCli(['keys', 'list', '--json'], { env })).stdout)).toEqual({ keys: [] });

    const file = join(dataDir, 'keyward.yaml');
    const res = await runCli(['keys', 'import-env', '--write-config', file], { env });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('openai: imported 1 key(s) from OPENAI_API_KEY');
    expect(res.stdout).toContain('anthropic: imported 1 key(s) from ANTHROPIC_API_KEY');
    expect(res.stdout).toContain(`wrote ${file}`);
    expect(res.stdout).toContain(
      `next: keyward start --config ${file}, then delete OPENAI_API_KEY, ANTHROPIC_API_KEY from the environment`,
    );
    const written = readFileSync(file, 'utf8');
    expect(written).toContain('store: true');
    expect(written).not.toContain(OPENAI_KEY);
    expect(written).not.toContain(ANTHROPIC_KEY);

    // Never overwritten.
    const again = await runCli(['keys', 'import-env', '--write-config', file], { env });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');

    // The gateway started with the file, the provider variables gone, answers with the stored keys.
    const gw = await startGatewayProcess(file, { KEYWARD_DATA_DIR: dataDir, KEYWARD_API_KEY: CLIENT_KEY });
    cleanups.push(async () => gw.child.kill('SIGKILL'));
    for (const model of ['openai/gpt-4o-mini', 'claude-haiku-4-5']) {
      const reply = await request(`${gw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(reply.statusCode, model).toBe(200);
      await reply.body.dump();
    }
    expect(existsSync(file)).toBe(true);
  });

  it('refuses --write-config when a config file is in use', async () => {
    const dataDir = freshDataDir();
    const config = join(dataDir, 'keyward.json');
    writeFileSync(config, JSON.stringify({ providers: [] }));
    const env = { KEYWARD_DATA_DIR: dataDir };
    expect((await runCli(['init', '--config', config], { env })).code).toBe(0);
    const res = await runCli(
      ['keys', 'import-env', '--config', config, '--write-config', join(dataDir, 'x.yaml')],
      {
        env,
      },
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`--write-config is for the no-file mode; ${config} is in use`);
  });
});
