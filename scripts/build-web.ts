/**
 * Builds the web app (web/) into web/dist, which the chat node serves at `/`: web/src/main.ts and
 * the SDK bundled for the browser by esbuild (ES modules, minified, with a source map), and the
 * static files copied as they are. `npm start` and `npm test` run it first (prestart, pretest);
 * `npm run web:build` runs it alone. Each run replaces web/dist whole.
 */
import { cpSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const WEB = join(import.meta.dirname, '..', 'web');
/** Copied into dist as they are. */
const STATIC = ['index.html', 'app.css', 'icon.svg'];

/** Builds into a fresh folder, then swaps it in, so that a node serving dist never sees half a build. */
export async function buildWebApp(): Promise<string> {
  const dist = join(WEB, 'dist');
  const next = join(WEB, `.dist-${process.pid}`);
  rmSync(next, { recursive: true, force: true });
  mkdirSync(next, { recursive: true });
  try {
    await build({
      entryPoints: [join(WEB, 'src', 'main.ts')],
      outfile: join(next, 'app.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['es2022'],
      minify: true,
      sourcemap: true,
      logLevel: 'warning',
    });
    for (const f of STATIC) cpSync(join(WEB, f), join(next, f));
    rmSync(dist, { recursive: true, force: true });
    renameSync(next, dist);
  } finally {
    rmSync(next, { recursive: true, force: true });
  }
  return dist;
}

if (import.meta.main) {
  const dist = await buildWebApp();
  console.log(`web app built into ${dist}`);
}
