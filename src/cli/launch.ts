// The program's entry (bin/btrfs-vault.js): runs the parser bundle and, when a
// command runs, the commands bundle, both compiled through V8's code cache; then
// keeps the caches this run made. A dry-run writes none: it writes nothing at all.
// CommonJS, like the bin file, so a start needs no ES module loader.
import { join } from 'node:path';
import { CODE_CACHE_DIR, loadScript, type LoadedScript } from './code-cache.js';
import type { CommandsModule, runCli } from './program.js';

export async function launch(bundleDir: string): Promise<void> {
  try {
    const cli = loadScript<{ runCli: typeof runCli }>(join(bundleDir, 'cli.cjs'), CODE_CACHE_DIR, 'cli');
    let commands: LoadedScript<CommandsModule> | undefined;
    let dryRun = false;
    process.exitCode = await cli.exports.runCli(process.argv.slice(2), (command, opts) => {
      dryRun ||= Boolean(opts.dryRun);
      commands ??= loadScript<CommandsModule>(join(bundleDir, 'commands.cjs'), CODE_CACHE_DIR, command);
      return commands.exports;
    });
    if (!dryRun) for (const script of [cli, commands]) script?.save();
  } catch (err) {
    // only a broken installation gets here: every command reports its own errors
    process.stderr.write(`btrfs-vault: cannot start: ${(err as Error)?.stack ?? String(err)}\nreinstall btrfs-vault (npm run build in its folder)\n`);
    process.exitCode = 70;
  }
}
