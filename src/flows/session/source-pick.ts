import { join, resolve } from 'node:path';
import { findMount } from '../../core/mountinfo.js';
import { readMountsSync } from '../../system/mounts.js';
import { lexists } from '../../system/no-follow.js';
import type { SourceConfig, VaultConfig } from '../../config/config.js';
import { pathIdentity, realPathOr } from '../../config/identity.js';
import { badPathReason } from '../../config/sources.js';
import { UserError } from '../../core/errors.js';
import { sourceName, sourceNameProblem } from '../../core/naming.js';

// How a command names a source, the same in backup, verify, prune, list, files and
// restore: a configured source by its path (also through a symlink or bind mount) or
// by its name, the folder its snapshots and backups are kept in. A name has no "/"; a
// word that is both a source's name and a path here that is another subvolume is
// refused as ambiguous (./WORD names the path). Beyond the configured ones, the verbs
// that make backups (backup, verify, prune) take a subvolume by its path, and those
// that only read the disk (list, files, restore) a backup folder by its name.

/**
 * Sources for this run: sources given on the command line (path or name), the sources
 * file with -S, or every configured source. A path that is a configured source's
 * subvolume (also through a symlink or bind mount) is that source, with its name and
 * snapshot folder, so it never starts a second chain; any other path gets the folder
 * name of its real path, which must not be taken.
 */
export function pickSources(config: VaultConfig, paths: readonly string[], fromFile: boolean): SourceConfig[] {
  if (fromFile) {
    if (paths.length > 0) {
      throw new UserError(
        `-S backs up the paths of the sources file, and paths were given too: ${paths.join(' ')}`,
        'give either -S or the paths, not both',
      );
    }
    if (config.sourcesFromFile.length === 0) {
      throw new UserError(
        `-S: there is no sources file with paths in it at ${join(config.dir, 'sources')}`,
        'write one path a line into it',
      );
    }
    return config.sourcesFromFile;
  }
  if (paths.length === 0) {
    if (config.sources.length === 0) {
      throw new UserError(
        `nothing to back up: ${config.file} names no sources and there is no sources file beside it`,
        'add sources = ["/", "/home"] to the config, or name the paths: btrfs-vault backup /home',
      );
    }
    return config.sources;
  }
  const identities = new Map<SourceConfig, string | undefined>();
  const identityOf = (s: SourceConfig) => {
    if (!identities.has(s)) identities.set(s, pathIdentity(s.path));
    return identities.get(s);
  };
  const picked: { given: string; source: SourceConfig; id: string | undefined }[] = [];
  for (const given of paths) {
    const bad = badPathReason(given);
    if (bad) throw new UserError(`the path ${JSON.stringify(given)} ${bad}`, 'rename the subvolume, or leave it out');
    const abs = resolve(given);
    const id = pathIdentity(abs);
    const source =
      byName(config, given, id, identityOf) ??
      config.sources.find((s) => s.path === abs || (id !== undefined && identityOf(s) === id)) ??
      (!given.includes('/') && id === undefined ? undefined : unconfigured(config, given, realPathOr(abs)));
    if (!source) throw noSuchSource(config, given);
    const same = picked.find((o) => o.source.path === source.path || (id !== undefined && o.id === id));
    if (same) throw new UserError(`${same.given} and ${given} are the same subvolume`, 'name each subvolume once');
    const clash = picked.find((o) => o.source.name === source.name);
    if (clash) {
      throw new UserError(
        `${clash.source.path} and ${source.path} would both be stored as "${source.name}": their backups would mix`,
        `back up one of them in another run, or give it its own name in ${config.file}: sources = [{ path = "${source.path}", name = "..." }]`,
      );
    }
    picked.push({ given, source, id });
  }
  return picked.map((p) => p.source);
}

/**
 * The configured source named `given`, when it has no "/". A path here by that word
 * that is another subvolume makes it ambiguous: refused, naming both ways to say it.
 */
function byName(
  config: VaultConfig,
  given: string,
  id: string | undefined,
  identityOf: (s: SourceConfig) => string | undefined,
): SourceConfig | undefined {
  if (given.includes('/')) return undefined;
  const named = config.sources.find((s) => s.name === given);
  if (!named) return undefined;
  const here = resolve(given);
  if (id !== undefined && here !== named.path && identityOf(named) !== id)
    throw new UserError(
      `"${given}" is both the name of the source ${named.path} and a path here (${here})`,
      `name the source by its path (${named.path}), or the folder here as ./${given}`,
    );
  return named;
}

/** Several sources named as `restoreSource` takes them (list): each once, in the order given. */
export function namedSources(config: VaultConfig, args: readonly string[]): (SourceConfig & { fromDisk?: true })[] {
  if (args.length === 0) return config.sources;
  const out: (SourceConfig & { fromDisk?: true })[] = [];
  for (const arg of args) {
    const source = restoreSource(config, arg);
    if (source.fromDisk && !lexists(source.snapshotDir) && !onSomeDisk(config, source.name))
      throw noSuchSource(config, source.path);
    if (!out.some((o) => o.name === source.name)) out.push(source);
  }
  return out;
}

/**
 * A word that names nothing: no configured source by that name or path, no path here
 * (backup, verify, prune), no backup folder on the disk (list, files, restore). The one
 * refusal of every verb, so a typo reads the same wherever it is made.
 */
export function noSuchSource(config: VaultConfig, given: string): UserError {
  return new UserError(
    `${JSON.stringify(given)} is no source: ${config.file} has none by that name or path`,
    `name a source by its name or path (btrfs-vault list shows them, and the backup folders on the disk): ${config.sources.map((s) => s.name).join(', ') || 'none are configured'}`,
  );
}

/** A source named only by its backup folder (restoreSource's fromDisk) that the mounted disk does not hold is no source. */
export function assertOnDisk(
  config: VaultConfig,
  source: SourceConfig & { fromDisk?: true },
  mountPoint: string,
): void {
  if (source.fromDisk && !lexists(join(mountPoint, source.name))) throw noSuchSource(config, source.path);
}

/** With the disk mounted already, a backup folder it does not hold is refused before anything is locked or opened. */
export function assertOnMountedDisk(config: VaultConfig, source: SourceConfig & { fromDisk?: true }): void {
  if (!source.fromDisk) return;
  const at = resolve(config.target.mountpoint);
  if (findMount(readMountsSync(), at)?.mountPoint === at) assertOnDisk(config, source, at);
}

/** A backup folder of this name on any of the config's disks that is mounted (list reads every one). */
function onSomeDisk(config: VaultConfig, name: string): boolean {
  const mounts = readMountsSync();
  return [config.target, ...(config.targets ?? [])].some((t) => {
    const at = resolve(t.mountpoint);
    return findMount(mounts, at)?.mountPoint === at && lexists(join(at, name));
  });
}

function unconfigured(config: VaultConfig, given: string, path: string): SourceConfig {
  const name = sourceName(path);
  const bad = sourceNameProblem(name);
  if (bad) {
    throw new UserError(
      `${given}: its folder name "${name}" ${bad}`,
      `add it to ${config.file} with a name: sources = [{ path = "${path}", name = "..." }]`,
    );
  }
  const taken = config.sources.find((s) => s.name === name);
  if (taken) {
    throw new UserError(
      `${given} would be stored as "${name}", the folder of the configured source ${taken.path}: their backups would mix`,
      `add it to ${config.file} with its own name: sources = [{ path = "${path}", name = "..." }]`,
    );
  }
  return { path, name, snapshotDir: join(config.snapshotDir, name) };
}

/**
 * What restore takes: a configured source (by path or folder name), else a backup
 * folder on the disk by its name (or the path it was named after). A rebuilt machine
 * has no sources configured yet; its backups are on the disk under their folder names.
 */
export function restoreSource(config: VaultConfig, arg: string): SourceConfig & { fromDisk?: true } {
  const abs = resolve(arg);
  const id = pathIdentity(abs);
  const found =
    byName(config, arg, id, (s) => pathIdentity(s.path)) ??
    config.sources.find((s) => s.path === abs || (id !== undefined && pathIdentity(s.path) === id));
  if (found) return found;
  const isPath = arg.includes('/');
  const name = isPath ? sourceName(resolve(arg)) : arg;
  const bad = sourceNameProblem(name);
  if (bad) {
    throw new UserError(
      `${arg} is not a configured source of ${config.file}, and "${name}" ${bad}`,
      `name a source or a backup folder on the disk (btrfs-vault list shows them): ${config.sources.map((s) => s.name).join(', ') || 'none are configured'}`,
    );
  }
  return { path: isPath ? resolve(arg) : name, name, snapshotDir: join(config.snapshotDir, name), fromDisk: true };
}
