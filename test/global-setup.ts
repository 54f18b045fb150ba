import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

/**
 * The CLI tests run the compiled `dist/` (and the dashboard's, `dist/ui`); build once so they never
 * test a stale build.
 * `KEYWARD_SKIP_BUILD=1` skips it when running tests that import sources directly.
 */
export default function setup(): void {
  if (process.env.KEYWARD_SKIP_BUILD === '1') return;
  // From nothing, as `npm run build` does: files of modules since removed would stay behind.
  rmSync('dist', { recursive: true, force: true });
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    stdio: 'inherit',
  });
  // The dashboard's tests load its built page.
  execFileSync(process.execPath, ['ui/build.mjs'], { stdio: 'inherit' });
}
