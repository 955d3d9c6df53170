import { lstatSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { lexists, readFileNoFollow } from '../system/no-follow.js';
import { TargetError, UserError } from '../core/errors.js';
import { findMount, type MountEntry } from '../core/mountinfo.js';
import { quote, type Runner } from '../system/runner.js';
import { btrfs } from './commands.js';

// The per-source folders btrfs-vault writes into (snapshots on the source, backups on
// the target) must be real folders on the filesystem they belong to. A symlink there
// (or above it, or a mount over it) would send a backup somewhere else: onto the
// source disk, into another filesystem. Checked by the mount table's device after
// every path is resolved.

export interface FolderCheck {
  /** `target` (backup folder) or `source` (snapshot folder), for messages and exit codes */
  side: 'target' | 'source';
  /** the filesystem the folder must be on */
  mount: MountEntry;
  mounts: readonly MountEntry[];
  /** the folder must be directly on this mount (nothing mounted in between) */
  exactMount?: boolean;
}

/**
 * Makes `dir` if it is missing (its parent must exist unless `parents`), then checks
 * it. Returns its path with every symlink of the parents resolved. A snapshot folder
 * is made as a subvolume of its own: what is written into it (snapshots, links) then
 * does not change the source it may sit in, so an unchanged source stays unchanged.
 */
export async function ownFolder(runner: Runner, dir: string, check: FolderCheck, parents = false): Promise<string> {
  const parent = dirname(dir);
  let realParent = parent;
  if (parents && !lexists(parent)) runner.change({ op: 'mkdir', path: parent, parents: true, mode: 0o700 });
  try {
    realParent = realpathSync.native(parent);
  } catch {
    // a dry-run did not make it
    if (runner.changesTakeEffect)
      throw refuse(check, `the folder ${parent} does not exist`, `create it, or check the configured path`);
  }
  const real = join(realParent, basename(dir));
  let st = lstatOrUndefined(real);
  if (!st) {
    if (check.side === 'source') await runner.run(btrfs.createSubvolume(real));
    else runner.change({ op: 'mkdir', path: real, mode: 0o700 });
    // a dry-run made no folder there to look at
    if (!runner.changesTakeEffect) return real;
    st = lstatSync(real);
  }
  if (st.isSymbolicLink()) {
    throw refuse(
      check,
      `${real} is a symlink, not a folder: btrfs-vault writes only into real folders on the ${check.side === 'target' ? 'backup' : 'source'} filesystem, never through a link`,
      `remove the link (rm ${quote(real)}); btrfs-vault then makes the folder itself`,
    );
  }
  if (!st.isDirectory()) {
    throw refuse(check, `${real} is not a folder`, `move it away; btrfs-vault makes the folder itself`);
  }
  const where = findMount(check.mounts, real);
  const onIt =
    where !== undefined &&
    where.device === check.mount.device &&
    (!check.exactMount || where.mountPoint === check.mount.mountPoint);
  if (!onIt) {
    throw refuse(
      check,
      `${real} is not on the ${check.side === 'target' ? 'backup' : 'source'} filesystem ${check.mount.mountPoint} (${check.mount.source}) but on ${where ? `${where.mountPoint} (${where.source})` : 'no known mount'}`,
      `unmount what is mounted over it, or check the configured folders`,
    );
  }
  return real;
}

function refuse(check: FolderCheck, message: string, fix: string): Error {
  return check.side === 'target' ? new TargetError(message, fix) : new UserError(message, fix);
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

export const OWNER_FILE = '.btrfs-vault-source';

export interface FolderOwner {
  host: string;
  /** the source (resolved) */
  source: string;
  /** target side: the source's snapshot folder (resolved) the chain in it comes from */
  snapshots?: string;
}

/**
 * A per-source folder belongs to one source of one host: its first run writes who,
 * and a run for another source (another config with the same folder name, another
 * host on a shared disk) is refused instead of mixing chains or pruning the other's
 * snapshots. A backup folder also belongs to one chain: the snapshot folder its
 * backups were sent from. A second config for the same source with its own snapshot
 * folder would otherwise send into it, and `latest` would flip between two chains; it
 * is refused while the recorded snapshot folder exists (one that is gone: the chain
 * moved, and the record follows it). A folder from before these checks is claimed by
 * the first run that uses it.
 */
export function claimFolder(runner: Runner, dir: string, side: FolderCheck['side'], owner: FolderOwner): void {
  const file = join(dir, OWNER_FILE);
  const text = readFileNoFollow(file);
  const write = (why: string) => {
    const about = `${owner.host} ${owner.source}${owner.snapshots ? ` from ${owner.snapshots}` : ''}${why}`;
    runner.change({ op: 'write', path: file, text: `${JSON.stringify(owner)}\n`, about });
  };
  if (text === undefined) return write('');
  let found: Partial<FolderOwner> = {};
  try {
    found = JSON.parse(text) as Partial<FolderOwner>;
  } catch {
    /* unreadable: treated as someone else's */
  }
  const refuse = (message: string, fix: string) =>
    side === 'target' ? new TargetError(message, fix) : new UserError(message, fix);
  const ownFolderFix = `give this source a folder of its own (sources = [{ path = "${owner.source}", name = "${basename(dir)}-2" }])`;
  if (found.host !== owner.host || found.source !== owner.source) {
    const message = `${dir} holds the ${side === 'target' ? 'backups' : 'snapshots'} of ${found.source ?? 'another source'} on host ${found.host ?? '?'}, not of ${owner.source} on ${owner.host}; mixing them would break both chains`;
    const moved =
      found.source !== undefined && found.source !== owner.source
        ? `if ${found.source} only moved to ${owner.source}, delete ${file}`
        : `if host ${found.host ?? '?'} is this machine under its old name, set host = "${found.host ?? '?'}" in the config, or delete ${file}`;
    throw refuse(message, `${ownFolderFix}; ${moved}`);
  }
  if (owner.snapshots === undefined || found.snapshots === owner.snapshots) return;
  if (found.snapshots !== undefined && lexists(found.snapshots)) {
    throw refuse(
      `${dir} holds the backups of ${owner.source} sent from the snapshot folder ${found.snapshots}, and this config takes its snapshots in ${owner.snapshots}; two chains in one folder would make latest flip between them, and neither would stay incremental; nothing was written`,
      `${ownFolderFix} in this config; or use one config (one snapshot_dir) for this source`,
    );
  }
  write(
    found.snapshots === undefined
      ? '; the snapshot folder recorded'
      : `; the recorded snapshot folder ${found.snapshots} is gone`,
  );
}

/** A folder's path with the symlinks of what exists of it resolved (it may not exist yet). */
export function resolvedFolder(dir: string): string {
  try {
    return realpathSync.native(dir);
  } catch {
    try {
      return join(realpathSync.native(dirname(dir)), basename(dir));
    } catch {
      return dir;
    }
  }
}
