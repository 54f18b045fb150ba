import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

const CONSUMER = `
import { type Config, ConfigError, type ConfigInput, createGateway, type Gateway, type GatewayOptions, hashClientKey, loadConfig } from 'keyward';
import { KeywardClient, KeywardError } from 'keyward/client';

const { config, source } = loadConfig({ file: 'keyward.yaml' });
const options: GatewayOptions = { config, source, dataDir: '.keyward' };
const gateway: Gateway = await createGateway(options);
const urls: { dataUrl: string; adminUrl: string } = await gateway.listen();
await gateway.close(1000);
const input: ConfigInput = {};
const loaded: Config = config;
const client = new KeywardClient({ baseUrl: urls.dataUrl, apiKey: hashClientKey('a-client-key-of-16+') });
console.log(input, loaded, client, ConfigError, KeywardError);
`;

/**
 * The package as `npm install keyward` lays it out, as far as a compiler sees it: the declarations
 * of dist/, and beside them the package's dependencies and the consumer's @types/node only, so a
 * declaration that needs one of our devDependencies finds nothing.
 */
function installed(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-consumer-'));
  const modules = join(dir, 'node_modules');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  cpSync(join(ROOT, 'package.json'), join(modules, 'keyward/package.json'));
  cpSync(join(ROOT, 'dist'), join(modules, 'keyward/dist'), {
    recursive: true,
    filter: (source) => !source.endsWith('.js') && !source.endsWith('.map') && !source.includes('/dist/ui'),
  });
  for (const name of [...Object.keys(pkg.dependencies), '@types/node']) {
    mkdirSync(dirname(join(modules, name)), { recursive: true });
    symlinkSync(realpathSync(join(ROOT, 'node_modules', name)), join(modules, name));
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(join(dir, 'main.ts'), CONSUMER);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        noEmit: true,
        skipLibCheck: false,
      },
      files: ['main.ts'],
    }),
  );
  return dir;
}

describe('the published type declarations', () => {
  it('compile for a strict consumer that checks libraries (no skipLibCheck)', { timeout: 60_000 }, () => {
    const dir = installed();
    let output = '';
    try {
      execFileSync(process.execPath, [TSC, '-p', dir], { encoding: 'utf8' });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout);
    }
    expect(output).toBe('');
  });
});
