import { isAbsolute, normalize as normalizePath, resolve } from 'node:path';
import { layersInOrder, type LayerName } from './defaults.js';
import { CONFIG_KEYS } from './keys.js';
import { problem, show } from './problems.js';
import { realPathOr } from './identity.js';
import { hostSchema } from './schema.js';
import type { TargetTable } from './target-tables.js';
import { badPathReason } from './sources.js';

// The rules of a config that its schema cannot say: each returns its problems, with file, key and fix.

const CONFIG_DOCS = 'README, "Configuration"';

/** The folders btrfs-vault writes under must be ones it may write. */
export function folderProblems(file: string, snapshotDir: string, targets: readonly TargetTable[]): string[] {
  const problems: string[] = [];
  for (const [key, value] of [
    ['snapshot_dir', snapshotDir],
    ...targets.map((t) => [`${t.table}.mountpoint`, t.mountpoint] as const),
  ] as const) {
    const bad = badPathReason(value);
    if (bad)
      problems.push(problem(`${file}: ${key}`, `${show(value)} ${bad}`, `choose another folder (${CONFIG_DOCS})`));
  }
  return problems;
}

/** A target's table: an absolute mount point that is not "/", a token on the backup filesystem, device paths, the layers' order. */
export function targetProblems(file: string, t: TargetTable): string[] {
  const problems: string[] = [];
  const under = `under [${t.table}]`;
  if (!isAbsolute(t.mountpoint)) {
    problems.push(
      problem(
        `${file}: ${t.table}.mountpoint`,
        `${show(t.mountpoint)} is not an absolute path`,
        `${under}, write it from /, e.g. mountpoint = "/media/backup"`,
      ),
    );
  } else if (resolve(t.mountpoint) === '/') {
    problems.push(
      problem(
        `${file}: ${t.table}.mountpoint`,
        '"/" is the root filesystem, not a backup disk',
        `${under}, name where the backup disk is mounted, e.g. mountpoint = "/media/backup"`,
      ),
    );
  } else if (realPathOr(resolve(t.mountpoint)) !== resolve(t.mountpoint)) {
    // the mount table names the real folder: through a symlink the disk would seem away
    const real = realPathOr(resolve(t.mountpoint));
    problems.push(
      problem(
        `${file}: ${t.table}.mountpoint`,
        `${show(t.mountpoint)} is reached through a symlink (it is ${show(real)}), so a disk mounted there would be taken for away`,
        `${under}, write the folder itself: mountpoint = ${JSON.stringify(real)}`,
      ),
    );
  }
  if (isAbsolute(t.token) || normalizePath(t.token).split('/')[0] === '..') {
    problems.push(
      problem(
        `${file}: ${t.table}.token`,
        `${show(t.token)} is not on the backup filesystem`,
        `${under}, give it relative to the mount point, e.g. token = ".token"`,
      ),
    );
  }
  for (const key of ['array', 'partition', 'device'] as const) {
    const value = t[key];
    if (value !== undefined && !isAbsolute(value)) {
      problems.push(
        problem(
          `${file}: ${t.table}.${key}`,
          `${show(value)} is not an absolute path`,
          `${under}, give the device's path, e.g. ${CONFIG_KEYS[`target.${key}`]!.example}`,
        ),
      );
    }
  }
  if (!layersInOrder(t.layers)) {
    problems.push(
      problem(
        `${file}: ${t.table}.layers`,
        `${show(t.layers)}: each layer at most once, bottom-up in the order raid, luks, lvm`,
        `${under}, write e.g. layers = ["raid", "luks", "lvm"], ["luks"] or [] (a plain btrfs disk)`,
      ),
    );
  }
  return problems;
}

/** The host's name names its logical volume: the machine's own, when not set, must be able to. */
export function hostProblems(file: string, host: string, fromMachine: boolean, layers: readonly LayerName[]): string[] {
  const problems: string[] = [];
  if (fromMachine && !hostSchema.safeParse(host).success) {
    problems.push(
      problem(
        `${file}: host`,
        `this machine's host name ${show(host)} cannot name its volume`,
        'set one: host = "deimos" (letters, digits, ".", "_", "-")',
      ),
    );
  }
  if (layers.includes('lvm') && lvmReserved(host)) {
    problems.push(
      problem(
        `${file}: host`,
        `${show(host)} names this host's logical volume, and LVM keeps that name for itself`,
        'set another: host = "deimos"',
      ),
    );
  }
  return problems;
}

// lvcreate refuses these names and name parts (lvm(8), "Valid names")
function lvmReserved(name: string): boolean {
  return (
    ['snapshot', 'pvmove'].some((p) => name.startsWith(p)) ||
    [
      '_cdata',
      '_cmeta',
      '_corig',
      '_iorig',
      '_mimage',
      '_mlog',
      '_pmspare',
      '_rimage',
      '_rmeta',
      '_tdata',
      '_tmeta',
      '_vdata',
      '_vorigin',
      '_wcorig',
    ].some((p) => name.includes(p))
  );
}
