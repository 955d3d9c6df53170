import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NamedTargetConfig, VaultConfig } from '../../config/config.js';
import { namedTargets, rotates, viewOf } from '../../config/target-view.js';
import { errorMessage, ExitCode, isVaultError, TargetError } from '../../core/errors.js';
import { checkToken } from '../../stack/token.js';
import type { MountEntry } from '../../core/mountinfo.js';
import { parseBefore } from '../../core/before-time.js';
import { compareSnapshotNames, isSnapshotName } from '../../core/naming.js';
import { snapshotTime } from '../../core/retention.js';
import { readHostRecord } from '../../system/host-record.js';
import { pausePoint } from '../../system/kill-point.js';
import { readMountsSync } from '../../system/mounts.js';
import { attachedTargets } from '../backup/backup-rotation.js';
import { restoreSource } from './source-pick.js';

// A verb over several backup disks (prune, list, verify, open, close): the flow written
// for one disk runs on each disk's view of the config, one after the other. With one
// disk it is that flow alone, its report as it always was.

export interface EachTargetReport<R> {
  ok: boolean;
  /** each disk's report, with its name; a disk whose run failed as a whole, its error */
  targets: ((R & { name: string }) | DiskFailure)[];
  /** the disks that were not attached: skipped */
  absent: { name: string; mountpoint: string }[];
  exitCode: number;
}

/** A disk whose run was refused as a whole (its token, its lock): the other disks' results stand. */
export interface DiskFailure {
  name: string;
  ok: false;
  error: string;
  fix?: string;
  exitCode: number;
}

export interface PerTargetOutput {
  /** what --json prints */
  json: unknown;
  lines: string[];
  exitCode: number;
}

/**
 * `run` on the one disk, or (several disks) on each attached one, or the one named;
 * `which: 'all'` runs it on every disk, attached or not (close).
 */
export async function runPerTarget<R extends object>(
  config: VaultConfig,
  name: string | undefined,
  run: (view: VaultConfig) => Promise<R>,
  lines: (r: R) => string[],
  o: { what: string; which?: 'attached' | 'all' } = { what: 'run' },
): Promise<PerTargetOutput> {
  namedTargets(config, name); // an unknown name is refused before anything
  if (!rotates(config)) {
    const r = await run(config);
    return { json: r, lines: lines(r), exitCode: codeOf(r) };
  }
  const { attached, absent } =
    o.which === 'all' ? { attached: namedTargets(config, name), absent: [] } : attachedTargets(config, name);
  if (attached.length === 0) throw noneAttached(absent, name, o.what);
  const report: EachTargetReport<R> = {
    ok: false,
    targets: [],
    absent: absent.map((t) => ({ name: t.name, mountpoint: t.mountpoint })),
    exitCode: ExitCode.ok,
  };
  const out: string[] = [];
  for (const t of attached) {
    let shown: string[];
    try {
      const r = await run(viewOf(config, t));
      report.targets.push({ name: t.name, ...r });
      shown = lines(r);
    } catch (err) {
      // one disk refused: what was done on the others (opened, pruned) is still told; a signal stops all
      if (!isVaultError(err) || STOPPED.has(err.exitCode)) throw err;
      report.targets.push({ name: t.name, ok: false, error: err.message, fix: err.fix, exitCode: err.exitCode });
      shown = [`✖ ${err.message}`, ...(err.fix ? [`fix: ${err.fix}`] : [])];
    }
    out.push(`${t.name} (${t.mountpoint}):`, ...shown.map((l) => (l === '' ? l : `  ${l}`)));
  }
  for (const a of report.absent) out.push(`- ${a.name} (${a.mountpoint}): not attached, skipped`);
  // as backup's: every disk failed alike is that code; a mix, or some done, is a partial failure
  const codes = report.targets.map(codeOf);
  const failed = codes.filter((c) => c !== ExitCode.ok);
  report.exitCode =
    failed.length === 0
      ? ExitCode.ok
      : failed.length === codes.length && new Set(failed).size === 1
        ? failed[0]!
        : ExitCode.failed;
  report.ok = report.exitCode === ExitCode.ok;
  return { json: report, lines: out, exitCode: report.exitCode };
}

const STOPPED = new Set<number>([ExitCode.sighup, ExitCode.sigint, ExitCode.sigterm]);

// a report without an exit code (list, open) is a success
const codeOf = (r: object) => (r as { exitCode?: number }).exitCode ?? ExitCode.ok;

function noneAttached(absent: readonly NamedTargetConfig[], name: string | undefined, what: string): TargetError {
  const names = absent.map((t) => `${t.name} (${t.mountpoint})`).join(', ');
  return new TargetError(
    name
      ? `the backup disk ${names} is not attached: cannot ${what}`
      : `none of the backup disks is attached: ${names}`,
    name ? 'plug it in, or name another with --target' : 'plug one in, or name one with --target',
  );
}

/** Which backup a restore asks for: a named one, or the newest before a time; neither is the newest. */
export interface WantedBackup {
  backup?: string;
  /** `--before` as given; one that is not a time is the restore's own error, so picks no disk here */
  before?: string;
}

/**
 * Restore and files read one disk: the one named, else (several disks) the attached one
 * that holds the backup asked for (a named one, the newest before a time, or the newest),
 * and a line that says which. A disk mounted already is asked what it holds (the host's
 * record may be gone, on a rebuilt machine, or stale); one not yet open, the host's record.
 */
export function diskToReadFrom(
  config: VaultConfig,
  name: string | undefined,
  /** the source as the command names it: its path or name (undefined: the picker asks) */
  sourceArg: string | undefined,
  wanted: WantedBackup = {},
): { config: VaultConfig; said?: string } {
  const named = namedTargets(config, name);
  if (!rotates(config)) return { config };
  if (name !== undefined) return { config: viewOf(config, named[0]!) };
  const { attached: here, absent } = attachedTargets(config, undefined);
  if (here.length === 0) throw noneAttached(absent, undefined, 'read a backup');
  const record = readHostRecord(config.file);
  const sourceName = sourceNameOf(config, sourceArg);
  const mounts = readMountsSync();
  // a mounted disk is read only once its token matched: a foreign one takes no part in the choice
  const refused = here.flatMap((t) => {
    const why = foreignWhy(config, t, mounts);
    return why === undefined ? [] : [{ t, why }];
  });
  const ours = here.filter((t) => !refused.some((r) => r.t === t));
  // none is ours: the first is read, and its own token check refuses it with the fix
  const attached = ours.length > 0 ? ours : here;
  const before = wanted.before === undefined ? undefined : parseBefore(wanted.before);
  const fits = (n: string) =>
    (wanted.backup === undefined || n === wanted.backup) &&
    (before === undefined || (snapshotTime(n)?.getTime() ?? Infinity) < before.getTime());
  const newest = (t: NamedTargetConfig) => {
    if (refused.some((r) => r.t === t)) return '';
    if (sourceName === undefined) return record.targets?.[t.name]?.lastBackup ?? '';
    const held = namesOnDisk(t, sourceName, mounts) ?? [record.targets?.[t.name]?.pins?.[sourceName]?.snapshot ?? ''];
    return held.filter(fits).sort(compareSnapshotNames).at(-1) ?? '';
  };
  // backup names are their UTC times: the greatest is the newest
  const best = [...attached].sort((a, b) => compareSnapshotNames(newest(b), newest(a)))[0]!;
  const held = newest(best);
  const what =
    wanted.backup !== undefined
      ? 'which holds the backup asked for'
      : `whose newest backup of this source${before ? ` before ${before.toISOString()}` : ''} is ${held}`;
  pausePoint('disk-chosen');
  const notRead = refused
    .filter((r) => r.t !== best)
    .map((r) => `; the disk at ${r.t.name}'s place (${r.t.mountpoint}) is refused and was not read: ${r.why}`)
    .join('');
  return {
    config: viewOf(config, best),
    said: `reading from the backup disk ${best.name} (${best.mountpoint})${held && sourceName ? `, ${what}` : ''}; --target NAME reads another${notRead}`,
  };
}

/** Why the disk mounted at a target's place is not that target's (its token); undefined: not mounted, or ours. */
function foreignWhy(config: VaultConfig, t: NamedTargetConfig, mounts: readonly MountEntry[]): string | undefined {
  if (!mounts.some((m) => m.mountPoint === t.mountpoint)) return undefined;
  try {
    const check = checkToken(viewOf(config, t));
    return check.ok ? undefined : check.reason;
  } catch (err) {
    return errorMessage(err);
  }
}

/** The backup names in a mounted disk's folder of the source; undefined: not mounted. */
function namesOnDisk(t: NamedTargetConfig, sourceName: string, mounts: readonly MountEntry[]): string[] | undefined {
  if (!mounts.some((m) => m.mountPoint === t.mountpoint)) return undefined;
  try {
    return readdirSync(join(t.mountpoint, sourceName)).filter(isSnapshotName);
  } catch {
    return [];
  }
}

// an unknown source is the restore's own error, said by it: here it only picks no disk by it
function sourceNameOf(config: VaultConfig, sourceArg: string | undefined): string | undefined {
  if (sourceArg === undefined) return undefined;
  try {
    return restoreSource(config, sourceArg).name;
  } catch {
    return undefined;
  }
}
