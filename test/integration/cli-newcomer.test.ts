import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshDataDir, runCli, writeTempConfig } from '../support/process.js';

/** A data directory after `keyward init`, and a config naming two providers. */
async function initialised(): Promise<{ args: string[]; dataDir: string }> {
  const dataDir = freshDataDir();
  const file = writeTempConfig({
    providers: [
      { id: 'openai', type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: { store: true } },
      { id: 'claude', type: 'anthropic', baseUrl: 'http://127.0.0.1:9/v1', keys: { store: true } },
    ],
  });
  const args = ['--config', file, '--data-dir', dataDir];
  const init = await runCli(['init', ...args]);
  expect(init.code, init.stderr).toBe(0);
  return { args, dataDir };
}

// Each case spawns the CLI several times; on a loaded machine that takes longer than the default.
describe('the CLI for a newcomer', { timeout: 90_000 }, () => {
  it('shows a group’s help when it is named without a subcommand', async () => {
    for (const [group, usage] of [
      ['tokens', 'Usage: keyward tokens <create|list|show|revoke>'],
      ['keys', 'Usage: keyward keys <list|add|'],
      ['master', 'Usage: keyward master rotate'],
      ['auth', 'Usage: keyward auth hash-key'],
      ['audit', 'Usage: keyward audit <verify|tail>'],
    ] as const) {
      const res = await runCli([group]);
      expect(res.code, `${group}: ${res.stderr}`).toBe(0);
      expect(res.stdout).toContain(usage);
      expect(res.stderr).toBe('');
    }
    const wrong = await runCli(['master', 'spin']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("unknown command 'master spin'");
    expect(wrong.stderr).toContain('Usage: keyward master rotate');
  });

  it('says what a flag takes, in flag terms', async () => {
    const { args } = await initialised();
    const cases: Array<[string[], string]> = [
      [['--rpm', 'lots'], "--rpm must be a whole number of at least 1 (got 'lots')"],
      [['--concurrency', '2.5'], '--concurrency must be a whole number'],
      [['--budget-usd', 'ten'], '--budget-usd must be a positive number such as 20 or 2.50'],
      [
        ['--expires-in', '3 weeks'],
        '--expires-in must be a duration: a number and a unit s, m, h or d, such as 90d',
      ],
      [['--expires-in', '999999d'], '--expires-in must be at most 3650d (10 years)'],
      [['--expires-in', '0s'], '--expires-in must be at least 1s'],
      [
        ['--budget-usd', '5', '--budget-period', 'week'],
        'Invalid value for --budget-period: expected one of day, month, total',
      ],
      [['--scopes', 'chat,root'], 'Invalid value for --scopes'],
      [['--ip', 'the office'], '--ip must be an IP address or CIDR'],
      [['--templates', 'summarize', '--scopes', 'chat'], "--templates needs the 'templates' scope"],
    ];
    for (const [flags, message] of cases) {
      const res = await runCli(['tokens', 'create', '--name', 'web', ...flags, ...args]);
      expect(res.code, flags.join(' ')).toBe(2);
      expect(res.stderr).toContain(message);
      expect(res.stderr).not.toMatch(/received null|regex|\^\\d/);
    }
  });

  it('refuses a data directory that does not exist, and creates nothing there', async () => {
    const missing = join(freshDataDir(), 'nodir');
    for (const command of [['tokens', 'list', '--json'], ['migrate'], ['audit', 'tail']]) {
      const res = await runCli([...command, '--data-dir', missing]);
      expect(res.code, command.join(' ')).toBe(1);
      expect(res.stderr).toContain(`the data directory ${missing} does not exist`);
      expect(res.stderr).toContain("run 'keyward init' first");
      expect(existsSync(missing), command.join(' ')).toBe(false);
    }
    // A directory without a store (the master key alone, say) gets none made either.
    const empty = freshDataDir();
    const res = await runCli(['migrate', '--data-dir', empty]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`no store at ${join(empty, 'keyward.db')}`);
    expect(readdirSync(empty)).toEqual([]);
  });

  it('takes --expires-in as a number of seconds, as the admin API takes expiresIn', async () => {
    const { args } = await initialised();
    const before = Date.now();
    const res = await runCli([
      'tokens',
      'create',
      '--name',
      'hour',
      '--expires-in',
      '3600',
      '--json',
      ...args,
    ]);
    expect(res.code, res.stderr).toBe(0);
    const expiresAt = Date.parse((JSON.parse(res.stdout) as { expiresAt: string }).expiresAt);
    expect(expiresAt - before).toBeGreaterThanOrEqual(3_600_000 - 1_000);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(3_600_000);
    const zero = await runCli(['tokens', 'create', '--name', 'none', '--expires-in', '0', ...args]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--expires-in must be at least 1');
  });

  it('writes errors as JSON on stderr with --json', async () => {
    const { args } = await initialised();
    const bad = await runCli(['tokens', 'create', '--name', 'web', '--rpm', 'x', '--json', ...args]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(JSON.parse(bad.stderr)).toEqual({
      error: { message: "--rpm must be a whole number of at least 1 (got 'x')", exitCode: 2 },
    });
    const unknown = await runCli(['frobnicate', '--json']);
    expect(JSON.parse(unknown.stderr).error.message).toBe("unknown command 'frobnicate'");
    const badFlag = await runCli(['tokens', 'list', '--colour', '--json']);
    expect(badFlag.code).toBe(2);
    expect(JSON.parse(badFlag.stderr).error.message).toContain("'--colour'");
  });

  it('refuses keys list for a provider the config does not name', async () => {
    const { args } = await initialised();
    const res = await runCli(['keys', 'list', '--provider', 'nope', ...args]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('unknown provider: the configured providers are openai, claude');
    expect(res.stderr).not.toContain('nope');
    const known = await runCli(['keys', 'list', '--provider', 'openai', '--json', ...args]);
    expect(known.code).toBe(0);
    expect(JSON.parse(known.stdout)).toEqual({ keys: [] });
  });

  it('aligns list tables under their headers', async () => {
    const { args } = await initialised();
    for (const name of ['a', 'a-much-longer-token-name']) {
      const res = await runCli(['tokens', 'create', '--name', name, '--expires-in', '30d', ...args]);
      expect(res.code, res.stderr).toBe(0);
    }
    const keys = [
      ['openai', 'sk-table-key-aaaaaaaaaaaaaaaaaaaaaaaa'],
      ['claude', 'sk-ant-table-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbb'],
    ];
    for (const [provider, key] of keys) {
      const res = await runCli(['keys', 'add', '--provider', provider!, ...args], { stdin: key });
      expect(res.code, res.stderr).toBe(0);
    }
    for (const [command, header] of [
      [
        ['tokens', 'list'],
        ['ID', 'NAME', 'SCOPES', 'EXPIRES'],
      ],
      [
        ['keys', 'list'],
        ['ID', 'PROVIDER', 'FINGERPRINT', 'STATUS', 'WEIGHT', 'AGE'],
      ],
    ] as const) {
      const res = await runCli([...command, ...args]);
      expect(res.code, res.stderr).toBe(0);
      const lines = res.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      const columns = header.map((h) => lines[0]!.indexOf(h));
      expect(columns.every((c, i) => i === 0 || c > columns[i - 1]!)).toBe(true);
      // Every row's cells start where the header's do.
      for (const row of lines.slice(1)) {
        for (const column of columns.slice(1)) {
          expect(row[column - 1], `${command.join(' ')}: ${row}`).toBe(' ');
          expect(row[column - 2], `${command.join(' ')}: ${row}`).toBe(' ');
          expect(row[column]).not.toBe(' ');
        }
      }
    }
  });

  it('says so when init mints another admin key', async () => {
    const { args } = await initialised();
    const again = await runCli(['init', ...args]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already had 1 admin key(s); they still work, and this is one more');
    const json = await runCli(['init', '--json', ...args]);
    expect(JSON.parse(json.stdout).adminKeys).toBe(3);
  });

  it('keeps the data directory it was given', async () => {
    const { args, dataDir } = await initialised();
    const res = await runCli(['init', '--json', ...args]);
    expect(JSON.parse(res.stdout).database).toBe(join(dataDir, 'keyward.db'));
  });
});
