import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { format, inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EnvelopeError, open, type RecordBinding, seal, sealedBy } from '../../src/keys/envelope.js';
import {
  decodeMasterKey,
  deriveMasterKey,
  generateMasterKey,
  loadMasterKey,
  type MasterKey,
  MasterKeyError,
  masterKeyFromBytes,
  readMasterKeyFile,
  SCRYPT_FLOOR,
} from '../../src/keys/master-key.js';
import { fingerprintOf, SecretString } from '../../src/keys/secret-string.js';

// No hex-only run of 5 characters, so a match against the 8-hex-digit fingerprint digest is impossible
// by accident: any 5-character overlap with an output really is a leak.
const PLAINTEXT = 'sk-proj-Hq7Wx3Lm9Rt2Vb8NzKpQsTuv';

/** Every 5-character window of `value`: leaking any of them leaks part of the secret. */
function fragments(value: string, size = 5): string[] {
  return Array.from({ length: value.length - size + 1 }, (_, i) => value.slice(i, i + size));
}

function expectNoPartOf(secret: string, text: string): void {
  expect(text).not.toContain(secret);
  for (const fragment of fragments(secret)) expect(text, `leaks '${fragment}'`).not.toContain(fragment);
}

describe('envelope (barrier)', () => {
  const right = generateMasterKey();
  const other = generateMasterKey();
  const binding: RecordBinding = { provider: 'openai', keyId: 'pk_1' };

  /** Opens expecting refusal; returns the error so each case can check its message is clean. */
  function refusal(keys: readonly MasterKey[], text: string, where: RecordBinding = binding): EnvelopeError {
    try {
      open(keys, text, where);
    } catch (error) {
      expect(error).toBeInstanceOf(EnvelopeError);
      const envelopeError = error as EnvelopeError;
      expectNoPartOf(PLAINTEXT, envelopeError.message);
      expectNoPartOf(PLAINTEXT, envelopeError.stack ?? '');
      return envelopeError;
    }
    throw new Error('open() accepted a ciphertext it should have refused');
  }

  /** Flips the low bit of one byte of the decoded body; the prefix stays intact so only GCM can notice. */
  function flipBit(text: string, pick: (bodyLength: number) => number): string {
    const [version, id, encoded] = text.split(':') as [string, string, string];
    const body = Buffer.from(encoded, 'base64url');
    const at = pick(body.length);
    body[at] = body[at]! ^ 0x01;
    return `${version}:${id}:${body.toString('base64url')}`;
  }

  it('produces ciphertext that differs from the plaintext and between two encryptions', () => {
    const first = seal(right, PLAINTEXT, binding);
    const second = seal(right, PLAINTEXT, binding);
    expectNoPartOf(PLAINTEXT, first);
    // A fresh nonce per seal: equal plaintexts must not be recognisable as equal at rest.
    expect(first).not.toBe(second);
    expect(first).toMatch(new RegExp(`^kw1:${right.id}:[A-Za-z0-9_-]+$`));
  });

  it('round-trips, including multi-byte text, and picks the sealing key among several', () => {
    for (const value of [PLAINTEXT, 'x', 'ключ-🔑-鍵', 'a'.repeat(4096)]) {
      expect(open([right], seal(right, value, binding), binding)).toBe(value);
    }
    // Rotation keeps old keys loaded next to the new one; the id in the envelope selects.
    expect(open([other, right], seal(right, PLAINTEXT, binding), binding)).toBe(PLAINTEXT);
  });

  it('reports which master key sealed a ciphertext', () => {
    expect(sealedBy(seal(right, PLAINTEXT, binding))).toBe(right.id);
    expect(sealedBy(seal(other, PLAINTEXT, binding))).toBe(other.id);
    expect(sealedBy(PLAINTEXT)).toBeUndefined();
    expect(sealedBy('kw2:abcd1234:AAAA')).toBeUndefined();
  });

  it.each([
    ['nonce', () => 0],
    ['tag', (length: number) => length - 1],
    ['body', () => 12],
  ])('fails when one bit of the %s is flipped', (_part, pick) => {
    const tampered = flipBit(seal(right, PLAINTEXT, binding), pick);
    expect(refusal([right], tampered).message).toMatch(/failed authentication/);
  });

  it('fails when the ciphertext is moved to another record', () => {
    const text = seal(right, PLAINTEXT, binding);
    // The associated data binds provider and key id: copying a row's ciphertext must not work.
    refusal([right], text, { provider: 'anthropic', keyId: 'pk_1' });
    refusal([right], text, { provider: 'openai', keyId: 'pk_2' });
    // Length-prefixed AD: shifting characters between provider and key id is another record too.
    refusal([right], text, { provider: 'openaip', keyId: 'k_1' });
  });

  it('fails under a wrong master key that claims the right id', () => {
    const impostor: MasterKey = { ...other, id: right.id };
    expect(refusal([impostor], seal(right, PLAINTEXT, binding)).message).toMatch(/failed authentication/);
  });

  it('fails when the sealing master key is not loaded', () => {
    expect(refusal([other], seal(right, PLAINTEXT, binding)).message).toMatch(/not loaded/);
  });

  it('refuses malformed input with a clean EnvelopeError', () => {
    const text = seal(right, PLAINTEXT, binding);
    const [, id, encoded] = text.split(':') as [string, string, string];
    const cases: Array<[string, RegExp]> = [
      ['', /empty ciphertext/],
      [`kw1:${id}`, /not a Keyward ciphertext/],
      [`kw1:${id}:${encoded}:extra`, /not a Keyward ciphertext/],
      [`kw1:${id}:${encoded.slice(0, 20)}`, /truncated/],
      // Cut inside the tag: long enough to parse, so only authentication catches it.
      [`kw1:${id}:${encoded.slice(0, -4)}`, /failed authentication/],
      [`kw1:${id}:`, /not base64url/],
      [`kw1:${id}:${Buffer.from(encoded, 'base64url').toString('base64')}==`, /not base64url/],
      [`kw1:${id}:${encoded.slice(0, 10)}!${encoded.slice(11)}`, /not base64url/],
      [`kw2:${id}:${encoded}`, /unsupported ciphertext version/],
    ];
    for (const [input, message] of cases) expect(refusal([right], input).message, input).toMatch(message);
  });

  it('never puts the plaintext in any error', () => {
    const text = seal(right, PLAINTEXT, binding);
    const attempts = [
      () => open([other], text, binding),
      () => open([{ ...other, id: right.id }], text, binding),
      () => open([right], text, { provider: 'openai', keyId: 'pk_9' }),
      () =>
        open(
          [right],
          flipBit(text, (length) => length - 2),
          binding,
        ),
    ];
    for (const attempt of attempts) {
      const error = (() => {
        try {
          attempt();
        } catch (caught) {
          return caught as Error;
        }
        throw new Error('expected a refusal');
      })();
      expectNoPartOf(PLAINTEXT, `${String(error)} ${error.stack} ${inspect(error)} ${JSON.stringify(error)}`);
    }
  });
});

describe('master key', () => {
  it('refuses keys of the wrong length', () => {
    expect(() => masterKeyFromBytes(randomBytes(31), 'env')).toThrow(/must be 32 bytes, got 31/);
    expect(() => masterKeyFromBytes(randomBytes(33), 'env')).toThrow(/must be 32 bytes, got 33/);
    expect(() => masterKeyFromBytes(randomBytes(31), 'env')).toThrow(MasterKeyError);
  });

  it('refuses all-zero and repeated-pattern keys as not random', () => {
    expect(() => masterKeyFromBytes(Buffer.alloc(32), 'env')).toThrow(/not random/);
    const pattern = Buffer.from(Array.from({ length: 32 }, (_, i) => i % 8));
    expect(() => masterKeyFromBytes(pattern, 'env')).toThrow(/not random/);
    // Through the text form too, with the source named so the operator knows what to fix.
    expect(() => decodeMasterKey(Buffer.alloc(32).toString('base64'), 'env', 'KEYWARD_MASTER_KEY')).toThrow(
      /^KEYWARD_MASTER_KEY: the master key is not random/,
    );
  });

  it('refuses text that is not base64 without echoing it', () => {
    const text = 'not*base64!value-with-secret';
    let message = '';
    try {
      decodeMasterKey(text, 'env', 'KEYWARD_MASTER_KEY');
    } catch (error) {
      expect(error).toBeInstanceOf(MasterKeyError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/KEYWARD_MASTER_KEY is not base64 .*openssl rand -base64 32/);
    expect(message).not.toContain('secret');
  });

  it('accepts standard and URL-safe base64 of the same key, with surrounding whitespace', () => {
    const generated = generateMasterKey();
    const standard = decodeMasterKey(`  ${generated.key.toString('base64')}\n`, 'env', 'x');
    const urlSafe = decodeMasterKey(generated.key.toString('base64url'), 'env', 'x');
    expect(standard.key.equals(generated.key)).toBe(true);
    expect(urlSafe.id).toBe(generated.id);
    // The id names the key in every ciphertext, so it must reveal nothing of it.
    expect(generated.id).toMatch(/^[0-9a-f]{8}$/);
    expect(generated.key.toString('hex')).not.toContain(generated.id);
    expect(generateMasterKey().id).not.toBe(generated.id);
  });

  describe('deriveMasterKey', () => {
    const passphrase = 'correct horse battery staple';

    it.each([
      { N: 2 ** 16, r: SCRYPT_FLOOR.r, p: SCRYPT_FLOOR.p },
      { N: SCRYPT_FLOOR.N, r: 7, p: SCRYPT_FLOOR.p },
      { N: SCRYPT_FLOOR.N, r: SCRYPT_FLOOR.r, p: 0 },
    ])('refuses scrypt parameters below the floor: %o', (params) => {
      expect(() => deriveMasterKey(passphrase, randomBytes(16), params)).toThrow(/below the floor/);
    });

    it('refuses a passphrase shorter than 16 characters', () => {
      expect(() => deriveMasterKey('fifteen-chars!!', randomBytes(16))).toThrow(/at least 16 characters/);
    });

    it('derives the same key for the same salt and a different key for another salt', () => {
      const salt = randomBytes(16);
      const first = deriveMasterKey(passphrase, salt, SCRYPT_FLOOR);
      const again = deriveMasterKey(passphrase, Buffer.from(salt), SCRYPT_FLOOR);
      const otherSalt = deriveMasterKey(passphrase, randomBytes(16), SCRYPT_FLOOR);
      expect(first.origin).toBe('passphrase');
      expect(again.key.equals(first.key)).toBe(true);
      expect(again.id).toBe(first.id);
      expect(otherSalt.key.equals(first.key)).toBe(false);
      expect(otherSalt.id).not.toBe(first.id);
    });
  });

  describe('key file', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'keyward-master-'));
    });
    afterEach(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('creates a missing file with mode 0600 and reads the same key back', () => {
      const path = join(dir, 'nested', 'master.key');
      const made = readMasterKeyFile(path, true);
      expect(made.created).toBe(true);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const read = readMasterKeyFile(path, false);
      expect(read.created).toBe(false);
      expect(read.master.id).toBe(made.master.id);
      expect(read.master.origin).toBe('file');
      // With create=true an existing key must be read, never replaced: replacing it loses every record.
      expect(readMasterKeyFile(path, true)).toMatchObject({ created: false, master: { id: made.master.id } });
    });

    it('gives processes creating the file at the same moment one key, never a half-written file', async () => {
      const path = join(dir, 'master.key');
      const module = pathToFileURL(join(process.cwd(), 'dist/keys/master-key.js')).href;
      // Each process loads the module first, then waits for the same instant to create the file.
      const at = Date.now() + 1_500;
      const script = `
        const { readMasterKeyFile } = await import(${JSON.stringify(module)});
        while (Date.now() < ${at});
        try {
          const { master, created } = readMasterKeyFile(${JSON.stringify(path)}, true);
          console.log(JSON.stringify({ id: master.id, created }));
        } catch (error) {
          console.log(JSON.stringify({ error: error.message }));
        }`;
      const runs = await Promise.all(
        Array.from({ length: 8 }, async () => {
          const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
          let out = '';
          child.stdout.on('data', (chunk) => {
            out += chunk;
          });
          await once(child, 'exit');
          return JSON.parse(out) as { id?: string; created?: boolean; error?: string };
        }),
      );
      expect(runs.filter((run) => run.error)).toEqual([]);
      expect(new Set(runs.map((run) => run.id)).size).toBe(1);
      expect(runs.filter((run) => run.created)).toHaveLength(1);
      expect(readMasterKeyFile(path, false).master.id).toBe(runs[0]!.id);
      expect(readdirSync(dir)).toEqual(['master.key']);
    });

    it('refuses a missing file when not asked to create one', () => {
      const path = join(dir, 'master.key');
      expect(() => readMasterKeyFile(path, false)).toThrow(/cannot read master key file .*ENOENT/);
      expect(existsSync(path)).toBe(false);
    });

    it('refuses a file that others can read, naming chmod 600', () => {
      const path = join(dir, 'master.key');
      writeFileSync(path, `${generateMasterKey().key.toString('base64')}\n`);
      chmodSync(path, 0o644);
      expect(() => readMasterKeyFile(path, false)).toThrow(MasterKeyError);
      expect(() => readMasterKeyFile(path, false)).toThrow(/mode 644.*chmod 600/);
    });
  });

  describe('loadMasterKey', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'keyward-load-'));
    });
    afterEach(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('refuses KEYWARD_MASTER_KEY and KEYWARD_MASTER_PASSPHRASE together', async () => {
      const salt = vi.fn(async () => randomBytes(16));
      const env = {
        KEYWARD_MASTER_KEY: generateMasterKey().key.toString('base64'),
        KEYWARD_MASTER_PASSPHRASE: 'correct horse battery staple',
      };
      // Ambiguity is an error: silently preferring one could seal records under a key the operator forgot.
      await expect(loadMasterKey({ env, file: join(dir, 'master.key'), create: true, salt })).rejects.toThrow(
        /not both/,
      );
      expect(salt).not.toHaveBeenCalled();
      expect(existsSync(join(dir, 'master.key'))).toBe(false);
    });

    it('derives from the passphrase with the salt from the callback', async () => {
      const passphrase = 'correct horse battery staple';
      const saltBytes = randomBytes(16);
      const salt = vi.fn(async () => saltBytes);
      const file = join(dir, 'master.key');
      const { master, created } = await loadMasterKey({
        env: { KEYWARD_MASTER_PASSPHRASE: passphrase },
        file,
        create: true,
        salt,
      });
      expect(salt).toHaveBeenCalledTimes(1);
      expect(created).toBe(false);
      expect(master.origin).toBe('passphrase');
      expect(master.key.equals(deriveMasterKey(passphrase, saltBytes).key)).toBe(true);
      expect(existsSync(file)).toBe(false);
    });

    it('takes KEYWARD_MASTER_KEY from the environment, else the key file', async () => {
      const salt = vi.fn(async () => randomBytes(16));
      const file = join(dir, 'master.key');
      const key = generateMasterKey();
      const fromEnv = await loadMasterKey({
        env: { KEYWARD_MASTER_KEY: key.key.toString('base64') },
        file,
        create: true,
        salt,
      });
      expect(fromEnv.master).toMatchObject({ id: key.id, origin: 'env' });
      expect(existsSync(file)).toBe(false);
      const fromFile = await loadMasterKey({ env: {}, file, create: true, salt });
      expect(fromFile.created).toBe(true);
      expect(fromFile.master.origin).toBe('file');
      expect(salt).not.toHaveBeenCalled();
    });
  });
});

describe('SecretString', () => {
  // Ends in 'a1b2' like the documented example; 'z' before it keeps every 5-character window non-hex.
  const value = 'sk-proj-Hq7Wx3Lm9Rt2Vb8Nza1b2';
  const secret = new SecretString(value);

  it('reveals the value only through reveal()', () => {
    expect(secret.reveal()).toBe(value);
    expect(secret.reveal()).toBe(value);
  });

  it('shows only the fingerprint when printed, encoded or inspected', () => {
    expect(secret.fingerprint).toMatch(/^sk-…a1b2 \[#[0-9a-f]{8}\]$/);
    const outputs = [
      String(secret),
      `${secret}`,
      `key=${secret}`,
      JSON.stringify({ secret }),
      inspect(secret),
      inspect({ nested: { secret } }, { depth: 10, showHidden: true }),
      format('%s %o %O %j', secret, secret, secret, { secret }),
      JSON.stringify({ ...secret }),
      Object.values(secret).join(' '),
    ];
    for (const output of outputs) {
      expect(output).toContain(secret.fingerprint);
      expectNoPartOf(value, output);
    }
    expect(JSON.stringify({ secret })).toBe(JSON.stringify({ secret: secret.fingerprint }));
  });

  it('keeps the value out of a heap snapshot', () => {
    // A separate process whose heap holds the secret only inside a SecretString: the value is
    // built from bytes read on stdin, wrapped, and the string dropped and collected before the
    // snapshot. The script is itself on the heap, so it must not contain the value.
    const value = `sk-${randomBytes(24).toString('base64url')}`;
    const dir = mkdtempSync(join(tmpdir(), 'keyward-heap-'));
    const snapshot = join(dir, 'heap.heapsnapshot');
    try {
      const script = `
        import { readFileSync } from 'node:fs';
        import { writeHeapSnapshot } from 'node:v8';
        const { SecretString } = await import(${JSON.stringify(pathToFileURL(join(process.cwd(), 'dist/keys/secret-string.js')).href)});
        let held = new SecretString(readFileSync(0).toString('utf8'));
        globalThis.held = held;
        globalThis.gc();
        writeHeapSnapshot(${JSON.stringify(snapshot)});
      `;
      execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { input: value });
      const text = readFileSync(snapshot, 'utf8');
      // The fingerprint's digest is in the snapshot: it does show the object's strings.
      const digest = /\[#([0-9a-f]{8})\]/.exec(new SecretString(value).fingerprint)![1]!;
      expect(text).toContain(`"${digest}"`);
      expect(text).not.toContain(value);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fingerprints stably and distinctly, hiding short values entirely', () => {
    expect(fingerprintOf(value)).toBe(secret.fingerprint);
    expect(new SecretString(value).fingerprint).toBe(secret.fingerprint);
    expect(fingerprintOf(`${value}x`)).not.toBe(secret.fingerprint);
    expect(fingerprintOf('AIzaSyA1234567890abcdefghijklmnop')).toMatch(/^AIza…mnop \[#[0-9a-f]{8}\]$/);
    // Under 16 characters, even four characters would be too large a share of the secret.
    expect(fingerprintOf('sk-shortvalue')).toMatch(/^… \[#[0-9a-f]{8}\]$/);
  });
});
