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

describe('a credential given where an id is asked for', { timeout: 90_000 }, () => {
  it('acts on a whole token by its id, and never prints its secret', async () => {
    const env = await initialised();
    const { id, token } = await mint(env, 'leaked');
    const secret = token.slice(`kw_${id}_`.length);

    const shown = await runCli(['tokens', 'show', token, '--json'], { env });
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id, name: 'leaked' });
    const revoked = await runCli(['tokens', 'revoke', token], { env });
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${id}`);
    for (const res of [shown, revoked]) expect(res.stdout + res.stderr).not.toContain(secret);
    expect(await live(env, id)).toBe(false);
  });

  it('answers an id that is not found without repeating what was given', async () => {
    const env = await initialised();
    const { id, token } = await mint(env, 'other');
    // Shaped as a token, of an id the store does not hold.
    const unknownToken = `kw_${id.replace(/./, (c) => (c === 'a' ? 'b' : 'a'))}_${token.slice(-43)}`;
    const runs: Array<[string[], string]> = [
      [['tokens', 'show', unknownToken], 'no token has that id'],
      [['tokens', 'revoke', unknownToken], 'no token has that id'],
      [['tokens', 'revoke', KEY], 'no token has that id'],
      [['sessions', 'revoke', KEY], 'no session has that id'],
      [['keys', 'remove', KEY], 'no stored key has that id'],
      [['keys', 'disable', KEY], 'no stored key has that id'],
      [['keys', 'enable', KEY], 'no stored key has that id'],
    ];
    for (const [args, answer] of runs) {
      const res = await runCli(args, { env });
      expect(res.code, args.join(' ')).toBe(1);
      expect(res.stderr).toContain(answer);
      expect(res.stderr).not.toContain(args[2]);
      expect(res.stderr).not.toContain(token.slice(-43));
    }
    expect(await live(env, id)).toBe(true);
  });

  it('names an unknown command without repeating a word that is no command name', async () => {
    const env = await initialised();
    for (const args of [['keys', KEY], ['tokens', KEY], ['audit', KEY], [KEY], ['store', KEY]]) {
      const res = await runCli(args, { env });
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr).toContain('unknown command');
      expect(res.stderr).not.toContain(KEY);
    }
    // A mistyped command is still named, to be corrected.
    expect((await runCli(['tokens', 'revok'], { env })).stderr).toContain(
      "unknown command 'keyward tokens revok'",
    );
  });
});
