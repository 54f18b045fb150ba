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
});
