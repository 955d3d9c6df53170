// The program's entry (bin/btrfs-vault.js): turns on Node's compile cache, then runs
// the parser bundle and, when a command runs, the commands bundle. CommonJS, like the
// bin file, so a start needs no ES module loader.
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';
import type { CommandsModule, runCli } from './program.js';
import type * as ServeEntry from './serve-entry.js';
import { exactArgs } from './exact-argv.js';
import { DEFAULT_CONFIG } from '../config/defaults.js';
import { testCacheDir } from './launch-test-hooks.js';

/** Node's compiled code of btrfs-vault, root's alone: root runs what is in it. */
export const COMPILE_CACHE_DIR = '/var/cache/btrfs-vault';

export async function launch(bundleDir: string): Promise<void> {
  try {
    // names are bytes: an argument that is not UTF-8 keeps its bytes
    const args = exactArgs(process.argv);
    const load = bundleLoader(bundleDir, cacheDir(args));
    const root = serveRoot(args);
    if (root !== undefined) {
      const { serveCommand } = load('serve.cjs') as typeof ServeEntry;
      // the client went away: its answer is lost, nothing else is (serve reports through its log)
      process.stdout.on('error', () => {});
      process.exitCode = await serveCommand({ root, config: DEFAULT_CONFIG });
      return;
    }
    const cli = load('cli.cjs') as { runCli: typeof runCli };
    process.exitCode = await cli.runCli(args, () => load('commands.cjs') as CommandsModule);
  } catch (err) {
    // only a broken installation gets here: runCli reports every error of a command
    process.stderr.write(
      `btrfs-vault: cannot start: ${(err as Error)?.stack ?? String(err)}\nreinstall btrfs-vault (npm run build in its folder)\n`,
    );
    process.exitCode = 70;
  }
}

/**
 * The serve root of sshd's forced command, spelled as the authorized_keys line has it
 * (`serve --root DIR`), else undefined: every other spelling goes through the parser.
 */
function serveRoot(args: readonly string[]): string | undefined {
  return args.length === 3 && args[0] === 'serve' && args[1] === '--root' && !args[2]!.startsWith('-')
    ? args[2]
    : undefined;
}

/**
 * The cache folder, when this run may use one: only for root, in a folder nobody else
 * can write (root runs what is in it), and never in a dry-run, which writes nothing.
 */
function cacheDir(args: readonly string[]): string | undefined {
  // -n alone or among other short flags (-bn)
  const dryRun = args.some((a) => a === '--dry-run' || /^-[A-Za-z]*n[A-Za-z]*$/.test(a));
  if (process.geteuid?.() !== 0 || dryRun) return undefined;
  const dir = testCacheDir() ?? COMPILE_CACHE_DIR;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === 0 && (st.mode & 0o077) === 0 ? dir : undefined;
  } catch {
    return undefined; // a cache is an optimisation
  }
}

type Load = (file: string) => unknown;

/**
 * Loads the bundles keeping their compiled code across starts (a no-change backup is
 * mostly start-up): Node ≥ 22.1 has a compile cache of its own; on Node 20 (Debian's)
 * each bundle is compiled with V8's code cache, kept beside it.
 */
function bundleLoader(bundleDir: string, cache: string | undefined): Load {
  const load = nodeModule.createRequire(join(bundleDir, 'launch.cjs'));
  const plain: Load = (file) => load(`./${file}`);
  if (cache === undefined) return plain;
  const enable = (nodeModule as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache;
  if (enable) {
    enable(cache);
    return plain;
  }
  return (file) => withCodeCache(join(bundleDir, file), cache);
}

/**
 * A CommonJS bundle run with V8's code cache. V8 checks only the source's length
 * against its cache, so the cache is named by the source's hash (and Node's version).
 * It is written when the run ends, holding also what the run compiled lazily.
 */
function withCodeCache(file: string, dir: string): unknown {
  const source = readFileSync(file, 'utf8');
  const key = createHash('sha256').update(process.version).update(source).digest('hex').slice(0, 32);
  const cacheFile = join(dir, `${basename(file)}.${key}.v8`);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    /* not made yet */
  }
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new Script(wrapped, { filename: file, cachedData });
  const module = { exports: {} as unknown };
  const run = script.runInThisContext() as (...a: unknown[]) => void;
  run.call(module.exports, module.exports, nodeModule.createRequire(file), module, file, dirname(file));
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once('exit', () => {
      try {
        const temporary = `${cacheFile}.${process.pid}`;
        writeFileSync(temporary, script.createCachedData(), { mode: 0o600, flag: 'wx' });
        renameSync(temporary, cacheFile);
        // the caches of earlier builds of this bundle go (only names of this form are ours)
        const ours = new RegExp(`^${basename(file).replace('.', '\\.')}\\.[0-9a-f]{32}\\.v8$`);
        for (const name of readdirSync(dir)) {
          if (ours.test(name) && join(dir, name) !== cacheFile) unlinkSync(join(dir, name));
        }
      } catch {
        /* a cache is an optimisation */
      }
    });
  }
  return module.exports;
}
