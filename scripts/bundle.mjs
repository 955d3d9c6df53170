// Bundles the CLI for start-up speed: one module graph read from a handful of files
// instead of hundreds (a no-change backup went from 300 to 200 ms, `npm run bench`).
// Code splitting keeps the flows in lazy chunks, so --help still loads only commander.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

rmSync('dist/bundle', { recursive: true, force: true });
await build({
  entryPoints: ['src/cli/main.ts'],
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // CommonJS dependencies inside an ESM bundle still call require()
  banner: { js: "import { createRequire as __btrfsVaultRequire } from 'node:module'; const require = __btrfsVaultRequire(import.meta.url);" },
});
