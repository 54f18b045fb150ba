// Builds the dashboard into dist/ui: one hashed ES module and one hashed stylesheet, and the page
// that names them. Run by `npm run build` and by `npm ci` (the `prepare` step).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';

const here = import.meta.dirname;
const out = join(here, '../dist/ui');
const require = createRequire(import.meta.url);

const result = await build({
  entryPoints: [join(here, 'src/main.tsx')],
  bundle: true,
  format: 'esm',
  minify: true,
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  write: false,
  legalComments: 'none',
});
const js = result.outputFiles[0].contents;
const css = Buffer.concat([
  readFileSync(require.resolve('uplot/dist/uPlot.min.css')),
  readFileSync(join(here, 'src/style.css')),
]);
const hashed = (name, ext, data) =>
  `${name}-${createHash('sha256').update(data).digest('hex').slice(0, 12)}.${ext}`;
const jsName = hashed('app', 'js', js);
const cssName = hashed('app', 'css', css);

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });
writeFileSync(join(out, 'assets', jsName), js);
writeFileSync(join(out, 'assets', cssName), css);
writeFileSync(
  join(out, 'index.html'),
  readFileSync(join(here, 'index.html'), 'utf8').replace('%JS%', jsName).replace('%CSS%', cssName),
);
console.log(`dashboard: dist/ui/assets/${jsName} (${js.length} B), ${cssName} (${css.length} B)`);
