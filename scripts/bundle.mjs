// Bundles the CLI for start-up speed (npm run bench): a few files instead of hundreds.
// launch.cjs (the entry) turns on Node's compile cache where there is one and runs two
// CommonJS bundles: cli.cjs, the parser (all --help reads), and commands.cjs,
// everything else, each command's code initialised only when it runs; serve.cjs, what
// `serve --root DIR` (sshd's forced command, once per verb) needs and nothing else. inquirer
// (half the code) is prompts.cjs, read only when setup or add-mirror asks a question.
//
// Two builds of the same code: dist/bundle, the release (what npm pack ships), in which
// each test hook module (fast LUKS key derivation, a pause after a setup step, kill
// points, a cache folder of a test's own) is replaced by its *.release.ts twin without any hook, so no environment
// variable can reach them; and dist/test-bundle with the hooks, run by the host and VM
// tests and the demo through dist/test-bundle/btrfs-vault.cjs.
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const HOOKS = [
  'src/flows/setup/setup-test-hooks.ts',
  'src/flows/serve/serve-test-hooks.ts',
  'src/system/wait-test-hooks.ts',
  'src/system/kill-point.ts',
  'src/cli/launch-test-hooks.ts',
].map((f) => resolve(f));
const withoutTestHooks = {
  name: 'without-test-hooks',
  setup(b) {
    b.onResolve(
      { filter: /(setup-test-hooks|serve-test-hooks|wait-test-hooks|launch-test-hooks|kill-point)\.js$/ },
      (args) => {
        const file = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
        if (!HOOKS.includes(file)) return undefined;
        return { path: file.replace(/\.ts$/, '.release.ts') };
      },
    );
  },
};
// a perl program is imported as './NAME.pl.js' (src/system/perl-files.d.ts): its file's text
const perlPrograms = {
  name: 'perl-programs',
  setup(b) {
    b.onResolve({ filter: /\.pl\.js$/ }, (args) => ({
      path: resolve(args.resolveDir, args.path.replace(/\.js$/, '')),
    }));
  },
};
const promptsApart = {
  name: 'prompts-apart',
  setup(b) {
    b.onResolve({ filter: /^@inquirer\/prompts$/ }, () => ({ path: './prompts.cjs', external: true }));
  },
};

// the version inlined (src/core/version.ts): an installed bundle has no package.json beside it
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

async function bundle(outdir, plugins) {
  rmSync(outdir, { recursive: true, force: true });
  const common = {
    bundle: true,
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
    format: 'cjs',
    loader: { '.pl': 'text' },
    // import.meta.url: read only by version.ts's fallback, which the defined version leaves out
    define: { BTRFS_VAULT_VERSION: JSON.stringify(version), 'import.meta.url': 'undefined' },
    plugins: [...plugins, perlPrograms],
  };
  await build({ ...common, entryPoints: ['src/cli/launch.ts'], outfile: join(outdir, 'launch.cjs') });
  await build({ ...common, entryPoints: ['src/cli/program.ts'], outfile: join(outdir, 'cli.cjs') });
  // sshd's forced command, started for every verb of a client: serve's code alone
  await build({ ...common, entryPoints: ['src/cli/serve-entry.ts'], outfile: join(outdir, 'serve.cjs') });
  await build({
    ...common,
    entryPoints: ['src/cli/commands.ts'],
    outfile: join(outdir, 'commands.cjs'),
    plugins: [...common.plugins, promptsApart],
  });
  await build({ ...common, entryPoints: ['@inquirer/prompts'], outfile: join(outdir, 'prompts.cjs') });
}

await bundle('dist/bundle', [withoutTestHooks]);
await bundle('dist/test-bundle', []);
// the test build's own bin file (bin/btrfs-vault.js runs the release)
writeFileSync(
  join('dist/test-bundle', 'btrfs-vault.cjs'),
  "#!/usr/bin/env node\n// the test build: bin/btrfs-vault.js with the test hooks (scripts/bundle.mjs)\nrequire('./launch.cjs').launch(__dirname);\n",
  { mode: 0o755 },
);
