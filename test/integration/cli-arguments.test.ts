import { describe, expect, it } from 'vitest';
import { freshDataDir, runCli, writeTempConfig } from '../support/process.js';

const KEY = 'sk-proj-cli-arguments-0123456789abcdef';

/**
 * `keyward init` done in a fresh data directory, with one provider whose keys live in the store;
 * the environment to run the CLI against it.
 */
async function initialised(): Promise<NodeJS.ProcessEnv> {
  const config = writeTempConfig({
    providers: [{ id: 'fake', type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: { store: true } }],
  });
  const env = { KEYWARD_DATA_DIR: freshDataDir(), KEYWARD_CONFIG: config };
  const init = await runCli(['init'], { env });
  expect(init.code, init.stderr).toBe(0);
  return env;
}

async function mint(env: NodeJS.ProcessEnv, name: string): Promise<{ id: string; token: string }> {
  const res = await runCli(['tokens', 'create', '--name', name, '--json'], { env });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as { id: string; token: string };
}

const live = async (env: NodeJS.ProcessEnv, id: string) =>
  (JSON.parse((await runCli(['tokens', 'show', id, '--json'], { env })).stdout) as { revokedAt: unknown })
    .revokedAt === null;

// Each case spawns the CLI several times; on a loaded machine that takes longer than the default.
describe('the arguments each CLI command takes', { timeout: 90_000 }, () => {
  it('refuses an argument past those a command takes, acting on none, rather than ignoring it', async () => {
    const env = await initialised();
    const first = await mint(env, 'first');
    const second = await mint(env, 'second');

    const both = await runCli(['tokens', 'revoke', first.id, second.id, '--json'], { env });
    expect(both.code).toBe(2);
    expect(both.stdout).toBe('');
    const { message } = JSON.parse(both.stderr).error as { message: string };
    expect(message).toContain('keyward tokens revoke takes one argument, a token id');
    expect(await live(env, first.id)).toBe(true);
    expect(await live(env, second.id)).toBe(true);

    for (const line of [
      'keys disable a b',
      'keys enable a b',
      'keys remove a b',
      'sessions revoke a b',
      'tokens show a b',
      'templates show a b',
      'master rotate now',
      'tokens list all',
    ]) {
      const res = await runCli(line.split(' '), { env });
      const command = line.split(' ').slice(0, 2).join(' ');
      expect(res.code, line).toBe(2);
      expect(res.stderr, line).toContain(`keyward ${command} takes`);
    }
  });

  it('refuses a provider key given as an argument, without echoing it, and stores nothing', async () => {
    const env = await initialised();
    for (const action of ['add', 'rotate', 'encrypt']) {
      const res = await runCli(['keys', action, '--provider', 'fake', KEY], {
        env,
        stdin: 'sk-proj-from-stdin-0123456789abcdef',
      });
      expect(res.code, action).toBe(2);
      expect(res.stdout).toBe('');
      expect(res.stderr).toContain(`keyward keys ${action} takes no argument`);
      expect(res.stderr).toContain('standard input');
      expect(res.stderr).not.toContain(KEY);
    }
    const hash = await runCli(['auth', 'hash-key', KEY], { env, stdin: 'another-client-key-0123456789' });
    expect(hash.code).toBe(2);
    expect(hash.stderr).not.toContain(KEY);
    const listed = await runCli(['keys', 'list', '--json'], { env });
    expect(JSON.parse(listed.stdout)).toEqual({ keys: [] });
  });
});
