// Bundles the CLI for start-up speed (npm run bench): a few files instead of hundreds.
// launch.cjs (the entry) turns on Node's compile cache where there is one and runs two
// CommonJS bundles: cli.cjs, the parser (all --help reads), and commands.cjs,
// everything else, each command's code initialised only when it runs. inquirer
// (half the code) is prompts.cjs, read only when setup or add-mirror asks a question.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

rmSync('dist/bundle', { recursive: true, force: true });
const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning' };
const promptsApart = {
  name: 'prompts-apart',
  setup(b) {
    b.onResolve({ filter: /^@inquirer\/prompts$/ }, () => ({ path: './prompts.cjs', external: true }));
  },
};
await build({ ...common, entryPoints: ['src/cli/launch.ts'], outfile: 'dist/bundle/launch.cjs', format: 'cjs' });
await build({ ...common, entryPoints: ['src/cli/program.ts'], outfile: 'dist/bundle/cli.cjs', format: 'cjs' });
await build({ ...common, entryPoints: ['src/cli/commands.ts'], outfile: 'dist/bundle/commands.cjs', format: 'cjs', plugins: [promptsApart] });
await build({ ...common, entryPoints: ['@inquirer/prompts'], outfile: 'dist/bundle/prompts.cjs', format: 'cjs' });
