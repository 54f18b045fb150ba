import { describe, expect, it } from 'vitest';
import { freshDataDir, runCli, writeTempConfig } from '../support/process.js';

/** `keyward init` done, with one provider whose keys live in the store. */
async function initialised(): Promise<string[]> {
  const file = writeTempConfig({
    providers: [{ id: 'fake', type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: { store: true } }],
  });
  const args = ['--config', file, '--data-dir', freshDataDir()];
  const init = await runCli(['init', ...args]);
  expect(init.code, init.stderr).toBe(0);
  return args;
}

// Each case spawns the CLI several times; on a loaded machine that takes longer than the default.
describe('the flags each CLI command takes', { timeout: 90_000 }, () => {
  it('takes each command’s own flags and refuses another’s, naming the one meant', async () => {
    const args = await initialised();
    const misspelt = await runCli([
      ...'tokens create --name x --scopes chat --provider fake --json'.split(' '),
      ...args,
    ]);
    expect(misspelt.code).toBe(2);
    expect(misspelt.stdout).toBe('');
    const { message } = JSON.parse(misspelt.stderr).error as { message: string };
    expect(message).toContain("keyward tokens create does not take '--provider'; did you mean --providers?");
    expect(message).toContain('--name, --scopes, --models, --providers');
    const none = await runCli(['tokens', 'list', '--json', ...args]);
    expect(JSON.parse(none.stdout)).toEqual({ tokens: [] });

    const elsewhere = await runCli(['keys', 'list', '--rpm', '5', '--guests', ...args]);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain(
      "keyward keys list does not take '--rpm' (a flag of keyward tokens create). It takes --provider;",
    );
    expect(elsewhere.stderr).toContain('Usage: keyward keys');

    // A flag no command takes gets the same answer rather than parseArgs' generic one.
    const typo = await runCli(['sessions', 'revoke', '--guest', ...args]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("keyward sessions revoke does not take '--guest'; did you mean --guests?");

    // A period without the amount it bounds is no budget: refused, not a token without one.
    const periodOnly = await runCli([...'tokens create --name p --budget-period day'.split(' '), ...args]);
    expect(periodOnly.code).toBe(2);
    expect(periodOnly.stderr).toContain('--budget-period needs --budget-usd');

    // Every flag README.md, docs/ and bench/ give a command still works on it.
    const key = 'sk-flags-test-key-0123456789abcdef';
    const runs: Array<[string, string?]> = [
      ['keys add --provider fake --weight 2', key],
      ['keys list --provider fake'],
      ['keys rotate --provider fake', `${key}-2`],
      ['keys encrypt --provider fake', key],
      [
        'tokens create --name web --user alice --scopes chat,models:read --models fast --rpm 60 ' +
          '--tpm 100000 --concurrency 4 --budget-usd 20 --budget-period month --expires-in 90d --ip 10.0.0.0/8',
      ],
      ['tokens create --name limited --providers fake --max-tokens 100 --client c --json'],
      ['tokens create --name web2 --templates summarize'],
      ['tokens list --include-revoked'],
      ['sessions list --user alice --include-revoked'],
      ['sessions revoke --guests'],
      ['sessions revoke --user alice'],
      ['conversations purge --user alice'],
      ['audit tail --limit 3'],
      ['audit verify --json'],
      ['migrate'],
    ];
    for (const [command, stdin] of runs) {
      const res = await runCli([...command.split(' '), ...args], stdin === undefined ? {} : { stdin });
      expect(res.code, `${command}: ${res.stderr}`).toBe(0);
    }
  });

  it('creates a token limited to models or providers the configuration lacks, and says so', async () => {
    const file = writeTempConfig({
      providers: [{ id: 'fake', type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: { store: true } }],
      models: [
        { name: 'fast', provider: 'fake', model: 'gpt-4o-mini' },
        { name: 'mini-*', provider: 'fake', model: '*' },
      ],
    });
    const args = ['--config', file, '--data-dir', freshDataDir()];
    expect((await runCli(['init', ...args])).code).toBe(0);
    const res = await runCli([
      ...'tokens create --name t --models fast,fsat,fake/gpt-4o,mini-x,other/m,mini-* --providers fake,fkae --json'.split(
        ' ',
      ),
      ...args,
    ]);
    // Still created, as the admin API creates it: a later reload may add what it names.
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({
      models: ['fast', 'fsat', 'fake/gpt-4o', 'mini-x', 'other/m', 'mini-*'],
    });
    expect(res.stderr).toContain(
      '--models fsat: no model of that name in the configuration (did you mean fast?)',
    );
    expect(res.stderr).toContain('--models other/m: no model of that name in the configuration');
    // A wildcard alias's pattern routes, but a token's models are matched by name: it matches none.
    expect(res.stderr).toContain("--models mini-*: a token's models are matched by name exactly");
    expect(res.stderr).toContain(
      '--providers fkae: no provider of that id in the configuration (did you mean fake?)',
    );
    for (const known of ['--models fast:', 'fake/gpt-4o:', 'mini-x:', '--providers fake:'])
      expect(res.stderr).not.toContain(known);
  });

  it('says a flag is unknown, and where to look, on a command line naming no command', async () => {
    for (const [words, said, usage] of [
      [['--bogus'], "unknown flag '--bogus'; see keyward --help", 'Usage:\n  keyward init'],
      [['--verison'], "unknown flag '--verison'; did you mean --version?", 'Usage:\n  keyward init'],
      [['tokens', '--bogus'], "unknown flag '--bogus'; see keyward tokens --help", 'Usage: keyward tokens'],
    ] as const) {
      const res = await runCli([...words]);
      expect(res.code, words.join(' ')).toBe(2);
      expect(res.stderr).toContain(said);
      expect(res.stderr).toContain(usage);
      expect(res.stderr).not.toContain('To specify a positional argument');
    }
    const json = await runCli(['tokens', '--bogus', '--json']);
    expect(JSON.parse(json.stderr).error.message).toBe("unknown flag '--bogus'; see keyward tokens --help");
  });

  it('prints the help of a group named alone, and keyward help X prints X’s', async () => {
    for (const [words, usage] of [
      [['sessions'], 'Usage: keyward sessions <list|revoke>'],
      [['templates'], 'Usage: keyward templates <list|show|test>'],
      [['conversations'], 'Usage: keyward conversations purge'],
      [['help', 'tokens'], 'Usage: keyward tokens <create|list|show|revoke>'],
      [['help', 'tokens', 'create'], 'Usage: keyward tokens <create|list|show|revoke>'],
      [['help', 'auth'], 'Usage: keyward auth hash-key'],
      [['help', 'start'], 'Usage: keyward start'],
      [['sessions', 'list', '--help'], 'Usage: keyward sessions <list|revoke>'],
    ] as const) {
      const res = await runCli([...words]);
      expect(res.code, `${words.join(' ')}: ${res.stderr}`).toBe(0);
      expect(res.stdout).toContain(usage);
      expect(res.stderr).toBe('');
    }
    const unknown = await runCli(['help', 'frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no command 'frobnicate' to show help for");
  });
});
