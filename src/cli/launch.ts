// The program's entry (bin/btrfs-vault.js): turns on Node's compile cache, then runs
// the parser bundle and, when a command runs, the commands bundle. CommonJS, like the
// bin file, so a start needs no ES module loader.
import { lstatSync, mkdirSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { join } from 'node:path';
import type { CommandsModule, runCli } from './program.js';
import { exactArgs } from './exact-argv.js';

/** Node's compiled code of btrfs-vault, root's alone: root runs what is in it. */
export const COMPILE_CACHE_DIR = '/var/cache/btrfs-vault';

export async function launch(bundleDir: string): Promise<void> {
  try {
    // names are bytes: an argument that is not UTF-8 keeps its bytes
    const args = exactArgs(process.argv);
    enableCompileCache(args);
    const load = nodeModule.createRequire(join(bundleDir, 'launch.cjs'));
    const cli = load('./cli.cjs') as { runCli: typeof runCli };
    process.exitCode = await cli.runCli(args, () => load('./commands.cjs') as CommandsModule);
  } catch (err) {
    // only a broken installation gets here: runCli reports every error of a command
    process.stderr.write(
      `btrfs-vault: cannot start: ${(err as Error)?.stack ?? String(err)}\nreinstall btrfs-vault (npm run build in its folder)\n`,
    );
    process.exitCode = 70;
  }
}

/**
 * Node ≥ 22.1 keeps compiled code across starts (a no-change backup is mostly start-up);
 * Node 20 has no such cache and simply compiles. Only for root, in a folder nobody else
 * can write, and never in a dry-run, which writes nothing at all.
 */
function enableCompileCache(args: readonly string[]): void {
  const enable = (nodeModule as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache;
  // -n alone or among other short flags (-bn)
  const dryRun = args.some((a) => a === '--dry-run' || /^-[A-Za-z]*n[A-Za-z]*$/.test(a));
  if (!enable || process.geteuid?.() !== 0 || dryRun) return;
  try {
    mkdirSync(COMPILE_CACHE_DIR, { recursive: true, mode: 0o700 });
    const st = lstatSync(COMPILE_CACHE_DIR);
    if (st.isDirectory() && st.uid === 0 && (st.mode & 0o077) === 0) enable(COMPILE_CACHE_DIR);
  } catch {
    /* a cache is an optimisation */
  }
}
