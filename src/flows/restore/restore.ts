import { accessSync, constants, lstatSync, readdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { SourceConfig, VaultConfig } from '../../config/config.js';
import { escapeName } from '../../core/byte-names.js';
import { ExitCode, TargetError, UserError } from '../../core/errors.js';
import { btrfs } from '../../btrfs/commands.js';
import { LATEST, readLink } from '../../btrfs/links.js';
import { backupsIn, listSubvolumes, listTargetSubvolumes, type Subvolume } from '../../btrfs/subvolumes.js';
import { subvolumeInfo } from '../../btrfs/subvolume-info.js';
import { transfer } from '../../btrfs/transfer.js';
import { readMounts, readMountsSync } from '../../system/mounts.js';
import { findMount, type MountEntry } from '../../core/mountinfo.js';
import { quote, type Runner } from '../../system/runner.js';
import type { LockKey } from '../../system/lock.js';
import { lexists, readFileNoFollow } from '../../system/no-follow.js';
import { OWNER_FILE } from '../../btrfs/folders.js';
import { formatBytes, formatDuration, formatProgress } from '../../ui/format.js';
import { progressInterval, type OutputMode } from '../../ui/renderer.js';
import { TargetSession, type SourceResult, type Task } from '../session/target-session.js';
import { assertOnDisk, assertOnMountedDisk } from '../session/source-pick.js';
import { chooseBackup } from './backup-choice.js';

export interface RestoreOptions {
  config: VaultConfig;
  /**
   * the configured source whose backup is restored; `fromDisk`: not configured, only
   * a backup folder's name (a rebuilt machine): its owner file names the source's path
   */
  source: SourceConfig & { fromDisk?: true };
  /** a backup's name; default: the newest (where `latest` points) */
  backup?: string;
  /** the newest backup older than this */
  before?: Date;
  /** a folder on a local btrfs filesystem; the backup becomes a new subvolume in it */
  to: string;
  writable: boolean;
  /** the restore picker: the backup chosen by a person, with the disk open and locked */
  pickBackup?: (names: string[]) => Promise<string>;
  runner: Runner;
  mode: OutputMode;
  signal?: AbortSignal;
}

export interface RestoreReport extends SourceResult {
  ok: boolean;
  dryRun: boolean;
  backup?: string;
  /** the new read-only subvolume */
  restored?: string;
  /** local: a snapshot of the same data already on that filesystem; incremental: sent from `parent`; full */
  how?: 'local' | 'incremental' | 'full';
  parent?: string;
  bytes?: number;
  seconds?: number;
  writable?: string;
  /** what to do to make it the live subvolume (printed, never done) */
  nextSteps: string[];
}

/**
 * restore: open the stack like backup (and close what it opened), pick the backup,
 * then put it into DIR as a new read-only subvolume: as a snapshot when that
 * filesystem already holds the same data, sent incrementally from a subvolume there
 * that holds an older backup's data, else sent whole. Never overwrites anything.
 */
export async function runRestore(opts: RestoreOptions): Promise<RestoreReport> {
  const { config, runner, source } = opts;
  assertOnMountedDisk(config, source);
  const report: RestoreReport = {
    ok: false,
    dryRun: !runner.changesTakeEffect,
    source: source.path,
    name: source.name,
    status: 'not-run',
    warnings: [],
    nextSteps: [],
    exitCode: ExitCode.ok,
  };
  const dest = destination(opts.to);
  // a backup named: a path that is taken is refused before the disk is opened (~7 s through the whole stack)
  if (
    opts.backup !== undefined &&
    /^[^/]+$/.test(opts.backup) &&
    opts.backup !== '.' &&
    opts.backup !== '..' &&
    lexists(join(dest.dir, opts.backup))
  ) {
    throw await taken(
      opts.runner,
      join(dest.dir, opts.backup),
      'nothing is ever overwritten, and the backup disk was not opened',
    );
  }
  const session = new TargetSession(config, runner, [], [] as SourceResult[], {
    signal: opts.signal,
    verb: 'restored',
    extraLocks: [restoreFolderLock(dest)],
  });

  const pickBackup = opts.pickBackup;
  await session.run(
    [
      session.ownTask(report, `Restore ${source.path}`, (task) =>
        restore(opts, session.targetMount!.mountPoint, dest, report, task),
      ),
    ],
    opts.mode,
    report,
    {
      own: report,
      ...(pickBackup && {
        between: async () => {
          const names = (await backupsOf(runner, session.targetMount!.mountPoint, source)).map((b) => b.name);
          // none: the restore itself says so, naming the backup folders there are
          if (names.length > 0) opts.backup = await pickBackup(names);
        },
      }),
    },
  );
  return report;
}

export interface Destination {
  dir: string;
  mount: MountEntry;
}

/**
 * The restore folder's lock, the same for a restore from a disk and from a server: two
 * restores into one folder would both find a name free and race to take it.
 */
export function restoreFolderLock(dest: Destination): LockKey {
  return { what: `the restore folder ${dest.dir}`, key: restoreKey(dest.mount.device, dest.dir) };
}

/** the one key of a restore folder, however the restore found its device and path */
function restoreKey(device: string, dir: string): string {
  return `restore ${device} ${dir}`;
}

/**
 * The lock of the folder a `restore --path` writes into (any filesystem), the key of
 * restoreFolderLock's: two restores into one folder would both find the name free, or
 * with --overwrite move each other's copy over the kept original.
 */
export function restorePathLock(to: string): LockKey {
  const dir = dirname(resolve(to));
  let real = dir;
  try {
    real = realpathSync.native(dir);
  } catch {
    // not there: the copy refuses it, under this lock
  }
  const device = findMount(readMountsSync(), real)?.device ?? '?';
  return { what: `the restore folder ${escapeName(real)}`, key: restoreKey(device, real) };
}

/** DIR: an existing real folder on a local btrfs filesystem. */
export function destination(to: string): Destination {
  let dir: string;
  try {
    dir = realpathSync.native(to);
    if (!lstatSync(dir).isDirectory()) throw new Error('not a folder');
  } catch {
    throw new UserError(
      `${escapeName(to)} is not an existing folder`,
      `create it first (mkdir -p -- ${quote(to)}) on the btrfs filesystem the backup should go to`,
    );
  }
  const mount = findMount(readMountsSync(), dir);
  if (!mount || mount.fsType !== 'btrfs') {
    throw new UserError(
      `${escapeName(to)} is on a ${mount?.fsType ?? 'unknown'} filesystem, not btrfs: a backup can only be restored onto btrfs`,
      'give --to a folder on a btrfs filesystem',
    );
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const why =
      (err as NodeJS.ErrnoException).code === 'EROFS'
        ? 'is read-only (a read-only mount or subvolume)'
        : 'cannot be written to (immutable?)';
    throw new UserError(
      `the restore folder ${escapeName(dir)} ${why}; nothing was written, and the backup disk was not opened`,
      'give --to a writable folder on a btrfs filesystem',
    );
  }
  return { dir, mount };
}

async function restore(
  opts: RestoreOptions,
  mountPoint: string,
  dest: Destination,
  report: RestoreReport,
  task: Task,
): Promise<void> {
  const { runner, source } = opts;
  const targetDir = join(mountPoint, source.name);
  const backups = await backupsOf(runner, mountPoint, source);
  if (backups.length === 0) {
    assertOnDisk(opts.config, source, mountPoint);
    const there = backupFolders(mountPoint);
    throw new TargetError(
      `there is no backup of ${source.path} on ${mountPoint} (looked in ${targetDir})`,
      there.length > 0
        ? `the backup folders there are: ${there.join(', ')} (btrfs-vault restore NAME --to DIR)`
        : 'check the source (btrfs-vault list) or attach the right disk',
    );
  }
  if (source.fromDisk) {
    // the path it was backed up from, for the report and the next steps
    const owner = folderOwner(targetDir);
    if (owner?.host === opts.config.host && owner.source) report.source = owner.source;
  }
  const chosen = chooseBackup(
    backups,
    { source: opts.source.path, backup: opts.backup, before: opts.before, listCommand: 'btrfs-vault list' },
    readLink(targetDir, LATEST),
  );
  report.backup = chosen.name;
  const restored = join(dest.dir, chosen.name);
  if (lexists(restored)) throw await taken(runner, restored, 'nothing is ever overwritten');
  // refused before anything is sent: a refusal writes nothing
  if (opts.writable && lexists(`${restored}.writable`))
    throw new UserError(
      `${restored}.writable exists already; nothing is ever overwritten, and nothing was restored`,
      `move ${restored}.writable away first`,
    );

  // the same data, or an older backup's, may be on the receiving filesystem already
  const there = await listSubvolumes(runner, dest.mount);
  const sameData = (b: Subvolume) => there.find((x) => x.uuid === b.receivedUuid || x.receivedUuid === b.receivedUuid);
  const same = sameData(chosen);
  const started = Date.now();
  if (same && (await subvolumeInfo(runner, same.path)).readonly) {
    task.output = `the same data is on that filesystem already (${same.path}): a snapshot of it`;
    await runner.run(btrfs.snapshot(same.path, restored));
    Object.assign(report, { how: 'local', parent: same.path, bytes: 0 });
  } else {
    // the nearest older (else newer) backup whose data is there: the smallest stream
    const at = backups.indexOf(chosen); // backups: oldest first by creation
    const order = [...backups.slice(0, at).reverse(), ...backups.slice(at + 1)];
    const base = order.find((b) => sameData(b) !== undefined);
    task.output = base
      ? `incremental from ${base.name} (its data is ${sameData(base)!.path})`
      : 'full send: nothing of this source is on that filesystem';
    const every = progressInterval(opts.mode);
    let last = 0;
    const { bytes } = await transfer(runner, {
      snapshot: chosen.path,
      snapshotUuid: chosen.receivedUuid,
      parent: base?.path,
      targetDir: dest.dir,
      into: 'restore',
      signal: opts.signal,
      stallMs: opts.config.stallMs,
      onProgress: (b) => {
        if (Date.now() - last < every) return;
        last = Date.now();
        task.output = formatProgress(b, Date.now() - started);
      },
    });
    Object.assign(report, { how: base ? 'incremental' : 'full', parent: base?.name, bytes });
  }
  report.seconds = (Date.now() - started) / 1000;
  report.restored = restored;
  if (opts.writable) {
    report.writable = `${restored}.writable`;
    // a writable snapshot beside it; the restored subvolume itself stays read-only (the next backup's parent)
    await runner.run(btrfs.writableSnapshot(restored, report.writable));
  }
  report.nextSteps = nextSteps(report.source, restored, report.writable, sameFilesystem(report.source, dest.mount));
  task.title = `${report.source}: ${runner.changesTakeEffect ? `${chosen.name} restored` : `would restore ${chosen.name}`} as ${restored} (${report.how}${report.parent ? ` from ${report.parent}` : ''}, ${formatBytes(report.bytes ?? 0)} in ${formatDuration(report.seconds * 1000)})`;
}

/**
 * The refusal for a restored name that is taken. A writable subvolume that was never
 * received whole is what a restore killed mid-transfer leaves under that name: said
 * so, with its delete command (not deleted here: nothing records that we made it).
 */
export async function taken(runner: Runner, path: string, why: string): Promise<UserError> {
  const info = await subvolumeInfo(runner, path).catch(() => undefined);
  if (info && !info.readonly && info.receivedUuid === undefined) {
    return new UserError(
      `${escapeName(path)} is an incomplete copy: a restore that was stopped mid-transfer left it (a writable subvolume, never received whole); ${why}`,
      `look at it, then delete it and restore again: btrfs subvolume delete -- ${quote(path)}`,
    );
  }
  return new UserError(
    `${escapeName(path)} exists already; ${why}`,
    `restore into another folder (--to), or move ${quote(path)} away first`,
  );
}

/** The complete backups of a source on the backup filesystem, oldest first. */
async function backupsOf(runner: Runner, mountPoint: string, source: SourceConfig): Promise<Subvolume[]> {
  const mount = (await readMounts()).filter((m) => m.mountPoint === mountPoint).at(-1)!;
  return backupsIn(await listTargetSubvolumes(runner, mount), join(mountPoint, source.name));
}

/** Is the source's path (or, gone, the nearest folder above it) on the filesystem restored to? */
function sameFilesystem(sourcePath: string, restoredTo: MountEntry): boolean {
  let p = sourcePath;
  while (!lexists(p) && p !== dirname(p)) p = dirname(p);
  return findMount(readMountsSync(), p)?.device === restoredTo.device;
}

/** The per-source folders on the backup filesystem (btrfs-vault's own files start with a dot). */
function backupFolders(mountPoint: string): string[] {
  try {
    return readdirSync(mountPoint, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

function folderOwner(dir: string): { host?: string; source?: string } | undefined {
  try {
    return JSON.parse(readFileNoFollow(join(dir, OWNER_FILE)) ?? '') as { host?: string; source?: string };
  } catch {
    return undefined;
  }
}

/**
 * The exact commands that make the writable copy the live subvolume; printed, never
 * run, each path quoted for the shell. On another filesystem than the source, `mv`
 * would copy file by file into a plain folder: the restored subvolume is sent over first.
 */
function nextSteps(sourcePath: string, restoredAt: string, writable: string | undefined, sameFs: boolean): string[] {
  const q = quote;
  const name = basename(restoredAt);
  // the restored subvolume where the source lives: itself, or sent next to the source
  const restored = sameFs ? restoredAt : join(dirname(sourcePath), name);
  const send = sameFs
    ? []
    : [
        `btrfs send ${q(restoredAt)} | btrfs receive ${q(dirname(sourcePath))}    # ${restoredAt} is on another filesystem than ${sourcePath}: mv would copy it file by file, so send it there`,
      ];
  const use = sameFs && writable ? writable : `${restored}.writable`;
  const make = sameFs && writable ? [] : [`btrfs subvolume snapshot ${q(restored)} ${q(use)}`];
  if (sourcePath === '/') {
    return [
      ...send,
      ...make,
      `btrfs subvolume list / | grep ${q(basename(use))}    # note its ID`,
      `btrfs subvolume set-default <ID> /    # or: subvol=${use} in the / line of /etc/fstab`,
      'reboot',
      `keep ${restored} (read-only) until the next backup has run: it is that backup's parent`,
    ];
  }
  return [
    ...send,
    ...make,
    `mv ${q(sourcePath)} ${q(`${sourcePath}.before-restore`)}    # the live subvolume, kept until you are sure`,
    `mv ${q(use)} ${q(sourcePath)}    # both on one filesystem: a rename`,
    `keep ${restored} (read-only) until the next backup has run: it is that backup's parent`,
  ];
}

/** What a person reads after the task list. */
export function restoreLines(r: RestoreReport): string[] {
  if (!r.ok) return [`✖ ${r.error}${r.fix ? `\nfix: ${r.fix}` : ''}`];
  if (r.dryRun) return ['dry run: nothing was changed'];
  const lines = [
    `restored ${r.source} as it was at ${r.backup}: ${r.restored} (read-only)${r.writable ? `, and a writable copy ${r.writable}` : ''}`,
  ];
  lines.push('', 'to make it the live subvolume (nothing of this was done):', ...r.nextSteps.map((s) => `  ${s}`));
  return lines;
}
