import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const DIST = join(ROOT, 'dist');

interface SourceMap {
  sources: string[];
  sourcesContent?: (string | null)[];
}

describe('what the package ships', () => {
  // The package ships dist/ alone: a map that only points at ../src named, under
  // --enable-source-maps, files an installation does not have.
  it('carries the sources in its source maps', () => {
    const maps = readdirSync(DIST, { recursive: true, encoding: 'utf8' }).filter((file) =>
      file.endsWith('.js.map'),
    );
    expect(maps).toContain('index.js.map');
    const without = maps.filter((file) => {
      const map = JSON.parse(readFileSync(join(DIST, file), 'utf8')) as SourceMap;
      return map.sources.some(
        (source, i) => map.sourcesContent?.[i] !== readFileSync(join(DIST, dirname(file), source), 'utf8'),
      );
    });
    expect(without).toEqual([]);
  });

  it('ships the licence its package.json names', () => {
    const [packed] = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], {
        cwd: ROOT,
        encoding: 'utf8',
      }),
    ) as [{ files: { path: string }[] }];
    expect(packed.files.map((file) => file.path)).toContain('LICENSE');
    const { license } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string };
    expect(license).toBe('Apache-2.0');
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(
      /^\s+Apache License\s+Version 2\.0, January 2004/,
    );
  });
});
