import { mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MasterKeys } from '../../src/gateway/secrets.js';
import { generateMasterKey, readMasterKeyFile } from '../../src/keys/index.js';
import { writeKeyFile } from '../../src/keys/master-key.js';
import type { Logger } from '../../src/observability/index.js';

/**
 * A record sealed by a key this process has not heard of yet (another instance heard of the
 * rotation first) opens once the key file holds that key: it is read again, not answered 500
 * until the next store change.
 */
describe('the master keys a gateway holds', () => {
  it('read the key file again for a record sealed by a key they do not hold, and tell of the switch', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'keyward-keys-')), 'master.key');
    expect(writeKeyFile(file, generateMasterKey())).toBe(true);
    const errors: string[] = [];
    const logger = { error: (message: string) => errors.push(message) } as unknown as Logger;
    const old = readMasterKeyFile(file, false).master;
    const masters = new MasterKeys([old], file, logger);
    const switched: string[] = [];
    masters.onSwitch((id) => switched.push(id));

    // A rotation publishes its new key file by a rename, as `keyward master rotate` does.
    expect(writeKeyFile(`${file}.next`, generateMasterKey())).toBe(true);
    renameSync(`${file}.next`, file);
    const next = readMasterKeyFile(file, false).master;
    // What the keys held open needs no read.
    expect(masters.opening(old.id).map((m) => m.id)).toEqual([old.id]);
    expect(masters.opening(next.id).map((m) => m.id)).toEqual([next.id, old.id]);
    expect(masters.newest.id).toBe(next.id);
    expect(switched).toEqual([next.id]);
    // A key no file holds leaves them as they are.
    expect(masters.opening('0badc0de').map((m) => m.id)).toEqual([next.id, old.id]);
    expect(switched).toEqual([next.id]);
    expect(errors).toEqual([]);
  });
});
