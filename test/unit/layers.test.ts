import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The folder layering of src/ (docs/architecture.md): a folder may import its own files and the
 * folders of lower layers, never a folder of its own layer or above. Type-only imports count: they
 * couple the code as much as any other. `madge --circular` in `npm run lint` catches cycles; this
 * catches an edge that points up without closing one (auth → data-plane, surfaces → forward).
 */
const LAYERS: readonly (readonly string[])[] = [
  ['templating'],
  ['errors', 'canonical', 'config', 'store', 'observability'],
  ['keys', 'routing', 'upstream', 'audit'],
  ['providers', 'auth'],
  ['accounting', 'catalog', 'conversations'],
  ['limits'],
  ['surfaces'],
  ['http'],
  ['sessions'],
  ['forward'],
  ['templates'],
  ['data-plane', 'admin'],
  ['gateway'],
  ['cli', 'index.ts'],
];

const SRC = join(import.meta.dirname, '../../src');
const SPECIFIER = /\b(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g;

type Edge = { from: string; to: string; file: string };

const layerOf = (folder: string): number => LAYERS.findIndex((layer) => layer.includes(folder));
const topFolder = (path: string): string => path.split(posix.sep)[0] ?? path;

/** Every import between two top-level folders of src/, from the source text. */
function folderEdges(): Edge[] {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  return files.flatMap((file) => {
    const path = file.split('\\').join(posix.sep);
    const text = readFileSync(join(SRC, file), 'utf8');
    return [...text.matchAll(SPECIFIER)].flatMap(([, specifier]) => {
      const target = relative(SRC, join(SRC, dirname(file), specifier!))
        .split('\\')
        .join(posix.sep);
      const from = topFolder(path);
      const to = topFolder(target);
      return from === to ? [] : [{ from, to, file: `${path} → ${target}` }];
    });
  });
}

/** The edges that point sideways or up, or leave a folder no layer names. */
function violations(edges: readonly Edge[]): string[] {
  return edges
    .filter(({ from, to }) => layerOf(from) === -1 || layerOf(to) === -1 || layerOf(to) >= layerOf(from))
    .map(({ file }) => file);
}

describe('src/ folder layering', () => {
  const edges = folderEdges();

  it('reads the imports of src/, type-only ones included', () => {
    expect(edges).toContainEqual(
      expect.objectContaining({
        from: 'forward',
        to: 'surfaces',
        file: expect.stringContaining('forward-job.ts'),
      }),
    );
  });

  it('has every import point down a layer', () => {
    expect(violations(edges)).toEqual([]);
  });

  it('refuses an import that points up or sideways', () => {
    const planted: Edge[] = [
      { from: 'auth', to: 'data-plane', file: 'auth/x.ts → data-plane/index.ts' },
      { from: 'surfaces', to: 'forward', file: 'surfaces/x.ts → forward/forwarder.ts' },
      { from: 'admin', to: 'data-plane', file: 'admin/x.ts → data-plane/index.ts' },
      { from: 'http', to: 'somewhere-new', file: 'http/x.ts → somewhere-new/y.ts' },
      { from: 'forward', to: 'surfaces', file: 'forward/x.ts → surfaces/types.ts' },
    ];
    expect(violations(planted)).toEqual(planted.slice(0, 4).map(({ file }) => file));
  });
});

/** Imports that load code at run time: `import type` and `export type` load nothing. */
const VALUE_IMPORT =
  /^(?:import|export)\s+(?!type\b)[^;]*?from\s+'(\.{1,2}\/[^']+)'|^import\s+'(\.{1,2}\/[^']+)'/gms;

/** The src/ files that loading `entry` loads, `entry` included. */
function loadedBy(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(SRC, file), 'utf8');
    for (const [, from, bare] of text.matchAll(VALUE_IMPORT)) {
      const target = relative(SRC, join(SRC, dirname(file), (from ?? bare)!.replace(/\.js$/, '.ts')));
      visit(target.split('\\').join(posix.sep));
    }
  };
  visit(entry);
  return [...seen].sort();
}

describe('the writer thread', () => {
  // Every module the thread loads is compiled and kept on its own heap: through two barrels
  // (conversations/index.ts, keys/index.ts) it loaded the surfaces, providers and key sources,
  // and its heap was 21 MB where 10 MB do (docs/decisions.md, "Memory").
  const WRITES_WITH = [
    'gateway/writer-worker.ts',
    'audit/',
    'store/',
    'conversations/thread-writer.ts',
    'conversations/response-entries.ts',
    'conversations/sealing.ts',
    'keys/envelope.ts',
    'keys/random-pool.ts',
  ];

  it('loads only what it writes with', () => {
    const loaded = loadedBy('gateway/writer-worker.ts');
    expect(loaded).toContain('conversations/thread-writer.ts');
    expect(loaded.filter((file) => !WRITES_WITH.some((allowed) => file.startsWith(allowed)))).toEqual([]);
  });
});
