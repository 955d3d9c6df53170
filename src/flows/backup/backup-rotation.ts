import { join } from 'node:path';
import type { NamedTargetConfig, SourceConfig, VaultConfig } from '../../config/config.js';
import { namedTargets, viewOf } from '../../config/target-view.js';
import { ExitCode, TargetError } from '../../core/errors.js';
import { targetAttached } from '../../stack/presence.js';
import { readHostRecord } from '../../system/host-record.js';
import { readMountsSync } from '../../system/mounts.js';
import type { Runner } from '../../system/runner.js';
import { pinsOnSource } from '../retention/rotation-pins.js';
import { runBackup, summaryLines, type BackupReport } from './backup.js';
import type { BackupVerbInput } from './backup-verb.js';
import { backUpToRemote } from '../remote/remote-backup.js';

// A run over several backup disks: each attached disk in turn, in a session of its own
// (its lock, its stack, its chain), in the config's order. A source's snapshot is taken
// once, for the first disk, and sent to the others. Disks that are away are named in
// the report and skipped.

export interface TargetBackupReport extends BackupReport {
  /** the disk's name in the config */
  name: string;
}

export interface RotationReport {
  ok: boolean;
  dryRun: boolean;
  /** each attached disk's run, in the config's order */
  targets: TargetBackupReport[];
  /** the disks that are away: skipped */
  absent: { name: string; mountpoint: string }[];
  /** said before the runs: a disk whose run will be full (its pin is gone from the source) */
  warnings: string[];
  exitCode: number;
}

/** The backup verb's input, with the two unattended triggers as one. */
export type RotationInput = Omit<BackupVerbInput, 'scheduled' | 'onPlug'> & {
  unattended: boolean;
  log: (line: string) => void;
};

/** Which of the disks are here; a disk named with --target that is away is the error an attended run reports. */
export function attachedTargets(
  config: VaultConfig,
  name: string | undefined,
): {
  attached: NamedTargetConfig[];
  absent: NamedTargetConfig[];
} {
  const mounts = readMountsSync();
  const targets = namedTargets(config, name);
  const here = targets.map((t) => targetAttached(viewOf(config, t), mounts));
  return { attached: targets.filter((_, i) => here[i]), absent: targets.filter((_, i) => !here[i]) };
}

/**
 * Every attached disk (or the one named), one after the other. undefined: nothing to
 * do (an unattended run with no disk here), which the verb says and treats as a skip.
 */
export async function backUpEachTarget(input: RotationInput): Promise<RotationReport | undefined> {
  const { config, runner } = input;
  const { attached, absent } = attachedTargets(config, input.target);
  const remotes = (config.remotes ?? []).filter((r) => input.target === undefined || r.name === input.target);
  if (attached.length === 0 && remotes.length === 0) {
    if (input.unattended) return undefined;
    const names = absent.map((t) => `${t.name} (${t.mountpoint})`).join(', ');
    throw new TargetError(
      input.target
        ? `the backup disk ${names} is not attached; nothing was written`
        : `none of the backup disks is attached: ${names}; nothing was written`,
      input.target
        ? 'plug it in and run the backup again, or name another with --target'
        : 'plug one of them in and run the backup again',
    );
  }
  const report: RotationReport = {
    ok: false,
    dryRun: !runner.changesTakeEffect,
    targets: [],
    absent: absent.map((t) => ({ name: t.name, mountpoint: t.mountpoint })),
    warnings: await fullRunNotices(runner, config, attached, input.sources),
    exitCode: ExitCode.ok,
  };
  for (const w of report.warnings) input.log(`! ${w}`);
  const madeThisRun = new Map<string, string>();
  const runStarted = new Date();
  for (const t of attached) {
    if (input.signal.aborted) break;
    if (!input.mode.json) input.log(`backup disk ${t.name} (${t.mountpoint}):`);
    const run = await runBackup({
      config: viewOf(config, t),
      sources: input.sources,
      runner,
      mode: input.mode,
      keepOpen: input.keepOpen,
      closeIdleBelow: input.unattended,
      force: input.force,
      signal: input.signal,
      madeThisRun,
      otherMountpoints: attached.filter((o) => o !== t).map((o) => o.mountpoint),
      runStarted,
    });
    report.targets.push({ name: t.name, ...run });
  }
  for (const remote of remotes) {
    if (input.signal.aborted) break;
    if (!input.mode.json) input.log(`backup server ${remote.name} (${remote.user}@${remote.host}):`);
    report.targets.push(
      await backUpToRemote({
        config,
        remote,
        sources: input.sources,
        runner,
        mode: input.mode,
        force: input.force,
        signal: input.signal,
        madeThisRun,
        runStarted,
      }),
    );
  }
  report.exitCode = combinedExitCode(report.targets.map((r) => r.exitCode));
  report.ok = report.exitCode === ExitCode.ok && report.targets.length === attached.length + remotes.length;
  return report;
}

/**
 * Said before the disks' runs start: the host's record says which snapshot of each source
 * each disk holds; when that one is gone from the source (let go after keep_for_absent,
 * or deleted by hand, or made again under its name), the run cannot be incremental from it.
 */
async function fullRunNotices(
  runner: Runner,
  config: VaultConfig,
  disks: readonly NamedTargetConfig[],
  sources: readonly SourceConfig[],
): Promise<string[]> {
  const record = readHostRecord(config.file);
  const asked = disks.flatMap((t) =>
    sources.flatMap((s) => {
      const pin = record.targets?.[t.name]?.pins?.[s.name];
      return pin ? [{ t, s, pin, path: join(s.snapshotDir, pin.snapshot), uuid: pin.uuid }] : [];
    }),
  );
  // one query for every disk's pins
  const held = await pinsOnSource(runner, asked);
  return asked
    .filter((a) => !held.has(a.path))
    .map(
      ({ t, s, pin }) =>
        `the ${t.name} disk's newest snapshot of ${s.path} (${pin.snapshot}) is no longer on the source (its pin was let go while the disk was away, or it was deleted): this backup of ${s.path} to ${t.name} will be full, unless an older snapshot is on both`,
    );
}

/** The runs' codes: all alike is that code; a mix, or some ok, is a partial failure (1). */
function combinedExitCode(codes: readonly number[]): number {
  const failed = codes.filter((c) => c !== ExitCode.ok);
  if (failed.length === 0) return ExitCode.ok;
  return failed.length === codes.length && new Set(failed).size === 1 ? failed[0]! : ExitCode.failed;
}

/** What a person reads after the runs: each disk's lines under its name, then the disks away. */
export function rotationLines(report: RotationReport): string[] {
  const lines: string[] = [];
  for (const t of report.targets) {
    const ok = t.sources.filter((s) => s.status === 'ok').length;
    lines.push(`${t.ok ? '✔' : '✖'} ${t.name} (${t.target}): ${ok} of ${t.sources.length} source(s) backed up`);
    for (const s of t.sources)
      if (s.status === 'ok')
        lines.push(
          `  ${s.source}: ${s.mode === 'unchanged' ? `unchanged since ${s.snapshot}` : `${s.snapshot} (${s.mode}${s.parent ? ` from ${s.parent}` : ''})`}`,
        );
    lines.push(...summaryLines(t).map((l) => `  ${l}`));
  }
  for (const a of report.absent) lines.push(`- ${a.name} (${a.mountpoint}): not attached, skipped`);
  return lines;
}
