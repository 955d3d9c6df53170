import { lstatSync, type Stats } from 'node:fs';
import { isAbsolute, join, normalize, relative, resolve } from 'node:path';
import type { SourceConfig, VaultConfig } from '../../config/config.js';
import { escapeName, fsPath } from '../../core/byte-names.js';
import { ExitCode, UserError } from '../../core/errors.js';
import { backupsIn, listTargetSubvolumes, type Subvolume } from '../../btrfs/subvolumes.js';
import type { Runner } from '../../system/runner.js';
import { readMounts } from '../../system/mounts.js';
import type { OutputMode } from '../../ui/renderer.js';
import { TargetSession, type SourceResult } from '../session/target-session.js';
import { copyBack } from './copy-back.js';
import { restorePathLock } from './restore.js';
import { assertOnDisk, assertOnMountedDisk } from '../session/source-pick.js';

// One file or folder through the backups: where it exists and when it changed, and
// bringing one version back. Inside a backup nothing is followed: a path whose folders
// include a symlink is refused (it could lead out of the backup). Names are bytes
// (core/byte-names.ts): fs calls get their exact bytes, people their escaped form.

export interface FileVersion {
  backup: string;
  type: 'file' | 'folder' | 'symlink' | 'other';
  size: number;
  mtime: string;
  /** differs from the version in the backup before it (or is the first) */
  changed: boolean;
}

export interface FilesReport extends SourceResult {
  ok: boolean;
  /** the path inside the source, escaped (escapeName) */
  path: string;
  versions: FileVersion[];
  restored?: { from: string; to: string; kept?: string };
  dryRun: boolean;
  exitCode: number;
}

/** A files (or restore --path) report before anything is looked at: the disk's and a server's start alike. */
export function filesReport(runner: Runner, source: SourceConfig, rel: string): FilesReport {
  return {
    ok: false,
    dryRun: !runner.changesTakeEffect,
    source: source.path,
    name: source.name,
    status: 'not-run',
    warnings: [],
    path: escapeName(rel),
    versions: [],
    exitCode: ExitCode.ok,
  };
}

/** The path inside the source: absolute paths under the source, or relative to it; never leaving it. */
export function pathInSource(source: SourceConfig, path: string): string {
  const rel = normalize(isAbsolute(path) ? relative(source.path, path) : path);
  // `..hidden` is a name inside the source; only `..` itself or `../` leaves it
  if (rel === '' || rel === '.' || rel === '..' || rel.startsWith('../') || isAbsolute(rel)) {
    throw new UserError(
      `${escapeName(path)} is not inside the source ${source.path}`,
      `give a path under ${source.path}, or one relative to it`,
    );
  }
  return rel;
}

/** lstat of `rel` inside `root`, refusing a symlink among its folders. */
export function statInside(root: string, rel: string): Stats | undefined {
  const parts = rel.split('/');
  let p = root;
  for (const [i, part] of parts.entries()) {
    p = join(p, part);
    let st: Stats;
    try {
      st = lstatSync(fsPath(p));
    } catch {
      return undefined;
    }
    if (i < parts.length - 1 && !st.isDirectory()) {
      if (st.isSymbolicLink())
        throw new UserError(
          `${escapeName(join(...parts.slice(0, i + 1)))} is a symlink in the backup: btrfs-vault does not follow it (it could lead out of the backup)`,
          'ask for the path the link points to',
        );
      return undefined;
    }
    if (i === parts.length - 1) return st;
  }
  return undefined;
}

/**
 * files: every backup holding PATH, with size and time, marking where it changed; with
 * `restore`, copies the version of one backup to `restore.to` (refusing to overwrite
 * unless `overwrite`, which keeps the old one as NAME.before-restore).
 */
export async function runFiles(opts: {
  config: VaultConfig;
  source: SourceConfig & { fromDisk?: true };
  path: string;
  runner: Runner;
  mode: OutputMode;
  restore?: { from?: string; to: string; overwrite: boolean };
  /** the restore picker: the backup chosen by a person among those holding the path, with the disk open and locked */
  pickBackup?: (names: string[]) => Promise<string>;
  signal?: AbortSignal;
}): Promise<FilesReport> {
  const { config, source, runner } = opts;
  assertOnMountedDisk(config, source);
  const rel = pathInSource(source, opts.path);
  const report = filesReport(runner, source, rel);
  const session = new TargetSession(config, runner, [], [] as SourceResult[], {
    signal: opts.signal,
    verb: 'read',
    // the folder it writes into, as a restore from a server locks it
    ...(opts.restore && { extraLocks: [restorePathLock(opts.restore.to)] }),
  });
  const backupsOf = async () => {
    const mount = (await readMounts()).filter((m) => m.mountPoint === session.targetMount!.mountPoint).at(-1)!;
    assertOnDisk(config, source, mount.mountPoint);
    return backupsIn(await listTargetSubvolumes(runner, mount), join(mount.mountPoint, source.name));
  };
  const { pickBackup, restore } = opts;
  const between =
    pickBackup && restore
      ? async () => {
          const holding = versions(await backupsOf(), rel).map((v) => v.backup);
          if (holding.length === 0)
            throw new UserError(
              `${escapeName(rel)} is in none of the backups of ${source.path}`,
              'see where it is: btrfs-vault files SOURCE PATH',
            );
          restore.from = await pickBackup(holding);
        }
      : undefined;
  await session.run(
    [
      session.ownTask(report, opts.restore ? `Restore ${report.path}` : `Look for ${report.path}`, async (task) => {
        const backups = await backupsOf();
        report.versions = versions(backups, rel);
        task.title = `${report.path}: in ${report.versions.length} of ${backups.length} backups, ${report.versions.filter((v) => v.changed).length} version(s)`;
        if (opts.restore) await restoreOne(runner, backups, rel, report, opts.restore, opts.signal);
      }),
    ],
    opts.mode,
    report,
    { own: report, ...(between && { between }) },
  );
  return report;
}

/** One lstat per backup: no tree walks. */
function versions(backups: readonly Subvolume[], rel: string): FileVersion[] {
  const out: FileVersion[] = [];
  let prev: Stats | undefined;
  for (const b of backups) {
    const st = statInside(b.path, rel);
    if (!st) {
      prev = undefined;
      continue;
    }
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'folder' : st.isSymbolicLink() ? 'symlink' : 'other';
    const changed = !prev || prev.size !== st.size || prev.mtimeMs !== st.mtimeMs || prev.mode !== st.mode;
    out.push({ backup: b.name, type, size: st.size, mtime: st.mtime.toISOString(), changed });
    prev = st;
  }
  return out;
}

async function restoreOne(
  runner: Runner,
  backups: readonly Subvolume[],
  rel: string,
  report: FilesReport,
  r: { from?: string; to: string; overwrite: boolean },
  signal?: AbortSignal,
): Promise<void> {
  const from = r.from ?? report.versions.at(-1)?.backup;
  const backup = backups.find((b) => b.name === from);
  // bad input, as a backup named positionally is (exit 2)
  if (!backup)
    throw new UserError(
      r.from
        ? `there is no complete backup named ${escapeName(r.from)} of ${report.source}`
        : `${escapeName(rel)} is in none of the backups`,
      'see where it is: btrfs-vault files SOURCE PATH',
    );
  if (!statInside(backup.path, rel))
    throw new UserError(
      `${escapeName(rel)} is not in the backup ${backup.name}`,
      `pick a backup that has it: ${
        report.versions
          .slice(-3)
          .map((v) => v.backup)
          .join(', ') || 'none has it'
      }`,
    );
  // resolved: `DIR/` is DIR, and `--help` is a path in the current folder, not an option
  const to = resolve(r.to);
  const kept = await copyBack(runner, join(backup.path, rel), to, r.overwrite, signal, (line) =>
    report.warnings.push(line),
  );
  report.restored = { from: backup.name, to: escapeName(to), ...(kept ? { kept: escapeName(kept) } : {}) };
}

/** What a person reads. */
export function filesLines(r: FilesReport): string[] {
  if (!r.ok) return [`✖ ${r.error}${r.fix ? `\nfix: ${r.fix}` : ''}`];
  const lines =
    r.versions.length === 0
      ? [`${r.path} is in none of the backups of ${r.source}`]
      : [`${r.path} in the backups of ${r.source} (* = changed):`];
  for (const v of r.versions)
    lines.push(
      `  ${v.changed ? '*' : ' '} ${v.backup}  ${v.type.padEnd(7)} ${String(v.size).padStart(12)}  ${v.mtime}`,
    );
  if (r.restored && r.dryRun)
    lines.push(
      '',
      `would restore ${r.path} from ${r.restored.from} to ${r.restored.to}${r.restored.kept ? ` (keeping the one there as ${r.restored.kept})` : ''}; dry run: nothing was changed`,
    );
  else if (r.restored)
    lines.push(
      '',
      `restored ${r.path} from ${r.restored.from} to ${r.restored.to}${r.restored.kept ? ` (the one that was there: ${r.restored.kept})` : ''}`,
    );
  for (const w of r.warnings) lines.push(`! ${w}`);
  return lines;
}
