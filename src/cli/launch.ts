// The program's entry (bin/btrfs-vault.js): runs the parser bundle and, when a
// command runs, the commands bundle, both compiled through V8's code cache; then
// keeps the caches this run made. A dry-run writes none: it writes nothing at all.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CODE_CACHE_DIR, loadScript, type LoadedScript } from './code-cache.js';
import type { CommandsModule, runCli } from './program.js';

const bundle = dirname(fileURLToPath(import.meta.url));
const cli = loadScript<{ runCli: typeof runCli }>(join(bundle, 'cli.cjs'), CODE_CACHE_DIR, 'cli');
let commands: LoadedScript<CommandsModule> | undefined;
let dryRun = false;

process.exitCode = await cli.exports.runCli(process.argv.slice(2), (command, opts) => {
  dryRun ||= Boolean(opts.dryRun);
  commands ??= loadScript<CommandsModule>(join(bundle, 'commands.cjs'), CODE_CACHE_DIR, command);
  return commands.exports;
});
if (!dryRun) for (const script of [cli, commands]) script?.save();
