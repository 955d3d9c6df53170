// Node 20 has no compile cache for our code (Node 22's module.enableCompileCache), so
// each start parsed and compiled ~600 KB of bundled JavaScript: about a third of a
// no-change backup run (npm run bench). V8's code cache, kept per command in a
// root-only folder, skips that. A cache is code, so one that anybody but the owner
// could have written is never read; any cache V8 does not accept is simply replaced.
import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

export const CODE_CACHE_DIR = '/var/cache/btrfs-vault';

/** hit: compiled from the cache; miss: none yet; rejected: V8 refused it; unsafe: not ours alone, ignored. */
export type CacheStatus = 'hit' | 'miss' | 'rejected' | 'unsafe';

export interface LoadedScript<T> {
  exports: T;
  status: CacheStatus;
  /** Writes the cache (what has been compiled so far) unless it was used; never throws. */
  save(): boolean;
}

/**
 * Runs a CommonJS bundle the way require() would, compiled with the cache
 * `<bundle>.<key>-<size>-<mtime>-<node version>-<arch>.v8` from `cacheDir` when there is a safe one.
 */
export function loadScript<T>(file: string, cacheDir: string, key: string): LoadedScript<T> {
  const source = readFileSync(file, 'utf8');
  const st = statSync(file);
  // one cache per bundle and command; the stamp says which build and which Node made it
  const bundle = `${basename(file).replace(/\.c?js$/, '')}.`;
  const stamp = `-${st.size}-${Math.trunc(st.mtimeMs)}-${process.version}-${process.arch}.v8`;
  const name = `${bundle}${key}${stamp}`;
  const cacheFile = join(cacheDir, name);
  let status: CacheStatus = 'miss';
  let cachedData: Buffer | undefined;
  try {
    if (!ownedSafely(lstatSync(cacheDir), 'dir') || !ownedSafely(lstatSync(cacheFile), 'file')) status = 'unsafe';
    else cachedData = readFileSync(cacheFile);
  } catch {
    /* no cache yet */
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  if (cachedData) status = script.cachedDataRejected ? 'rejected' : 'hit';
  const module = { exports: {} as T };
  const fn = script.runInThisContext() as (...args: unknown[]) => void;
  fn.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));

  return {
    get exports() {
      return module.exports;
    },
    status,
    save() {
      if (status === 'hit') return false;
      try {
        mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
        if (!ownedSafely(lstatSync(cacheDir), 'dir')) return false;
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        const fd = openSync(tmp, 'wx', 0o600);
        try {
          writeSync(fd, script.createCachedData());
        } finally {
          closeSync(fd);
        }
        renameSync(tmp, cacheFile); // readers see a whole cache or none
        for (const old of readdirSync(cacheDir)) {
          // any command's cache of an older build of this bundle, or of another Node
          if (old.startsWith(bundle) && old.endsWith('.v8') && !old.endsWith(stamp)) unlinkSync(join(cacheDir, old));
        }
        status = 'hit';
        return true;
      } catch {
        return false; // a cache is an optimisation: no cache folder (not root) is fine
      }
    },
  };
}

/** Owned by us, not a symlink, writable by nobody else (and the file readable by nobody else). */
function ownedSafely(st: Pick<Stats, 'uid' | 'mode' | 'isDirectory' | 'isFile'>, kind: 'dir' | 'file'): boolean {
  const euid = process.geteuid?.() ?? -1;
  if (st.uid !== euid) return false;
  if (kind === 'dir' ? !st.isDirectory() : !st.isFile()) return false;
  return (st.mode & (kind === 'dir' ? 0o022 : 0o077)) === 0;
}
