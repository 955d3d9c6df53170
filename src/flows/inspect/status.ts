import { join } from 'node:path';
import type { VaultConfig } from '../../config/config.js';
import { mountOfNearest } from '../../btrfs/paths.js';
import { readReceiveRecord } from '../../btrfs/receive-record.js';
import {
  childrenOf,
  firstOfEachCopy,
  isCompleteCopy,
  listSubvolumes,
  listTargetSubvolumes,
  snapshotsIn,
  type Subvolume,
} from '../../btrfs/subvolumes.js';
import type { MdArrayStat } from '../../core/mdstat.js';
import type { MountEntry } from '../../core/mountinfo.js';
import { isSnapshotName } from '../../core/naming.js';
import { chooseParent } from '../../core/parent.js';
import { isFutureName, snapshotTime } from '../../core/retention.js';
import {
  hostRecordFile,
  hostRecordProblem,
  readHostRecord,
  unreadableRecord,
  type HostRecord,
} from '../../system/host-record.js';
import { readMounts } from '../../system/mounts.js';
import type { Runner } from '../../system/runner.js';
import { filesystemLayer } from '../../stack/filesystem.js';
import { raidLayer } from '../../stack/raid.js';
import { stackLayers } from '../../stack/stack.js';
import { foreignDiskError } from '../../stack/token.js';
import { formatBytes, formatDuration } from '../../ui/format.js';
import { freeSpace } from '../retention/min-free.js';
import { planSource } from '../retention/retention-plan.js';
import { rotationPins } from '../retention/rotation-pins.js';
import { namedTargets, rotates, viewOf } from '../../config/target-view.js';
import { attachedTargets } from '../backup/backup-rotation.js';
import { SINGLE_TARGET_NAME } from '../../config/defaults.js';
import {
  pinsHeld,
  targetLines,
  targetsStatus,
  targetWarnings,
  type TargetStatus,
  type TargetWarning,
} from './targets-status.js';
import { remoteLines, remotesStatus, remoteWarnings, type RemoteStatus } from './remotes-status.js';

/** Default of status.max_age: a week. */
export const DEFAULT_MAX_AGE_SECONDS = 7 * 86_400;

export type WarningCode =
  | 'no-backup'
  | 'stale-backup'
  | 'last-run-failed'
  | 'degraded'
  | 'incomplete-copy'
  | 'retention-disabled'
  | 'target-not-seen'
  | 'future-name'
  | 'foreign-disk'
  | 'host-record-unreadable'
  | TargetWarning['code'];

export interface StatusWarning {
  code: WarningCode;
  message: string;
  source?: string;
  /** a warning about one backup disk (several disks): its name */
  target?: string;
  fix?: string;
}

export interface SourceStatus {
  source: string;
  name: string;
  /** ISO time of the last successful backup (the host's record), null: none yet */
  lastSuccess: string | null;
  ageSeconds: number | null;
  lastError: string | null;
  /** counts on each side; target: null when the disk is not mounted */
  snapshots: { source: number; target: number | null };
  /** the newest snapshot present on both sides (the next incremental's parent) */
  nextParent: string | null;
  /** receives an interrupted run left (the next backup deletes them) */
  incomplete: string[];
  /** what the next prune deletes; null: disk not mounted or no [retention] */
  retentionWouldDelete: { source: number; target: number } | null;
  /** snapshots and backups named later than now (made with the clock set forward) */
  futureNames: string[];
}

export interface Status {
  ok: boolean;
  at: string;
  config: string;
  target: {
    mountpoint: string;
    mounted: boolean;
    /** ISO time the disk was last opened by a backup (the host's record) */
    lastSeen: string | null;
    layers: { layer: string; up: boolean; detail: string }[];
    array: {
      map?: string;
      degraded: boolean;
      sync?: MdArrayStat['sync'];
      failed: string[];
      leftOut: string[];
      missing: number;
    } | null;
    space: { free: number; size: number } | null;
  };
  /** minFree: target.min_free as written (it deletes the oldest backups when space is short, with or without [retention]) */
  retention: { configured: boolean; minFree: string | null };
  sources: SourceStatus[];
  /** every backup disk of the config (or the one named with --target): attached, last backup, last seen, pins */
  targets: TargetStatus[];
  /** every backup server of the config (or the one named), from the host's record */
  remotes: RemoteStatus[];
  warnings: StatusWarning[];
  exitCode: number;
}

/** One look at everything, read-only; works with the backup disk closed or away. */
export async function collectStatus(
  runner: Runner,
  config: VaultConfig,
  now = new Date(),
  /** --target NAME: that disk alone */
  only?: string,
): Promise<Status> {
  const record = readHostRecord(config.file);
  const mounts = await readMounts();
  const ctx = { runner, config, mounts: async () => mounts };
  const layers: Status['target']['layers'] = [];
  let array: Status['target']['array'] = null;
  for (const layer of stackLayers(ctx)) {
    const state = (await layer.inspect(ctx).catch((err: Error) => ({ up: false, detail: err.message }))) as {
      up: boolean;
      detail: string;
      stat?: MdArrayStat;
      absent?: { failed: string[]; leftOut: string[]; missing: number };
    };
    layers.push({ layer: layer.name, up: state.up, detail: state.detail });
    if (layer === raidLayer && state.stat) {
      const s = state.stat;
      const degraded = s.present !== undefined && s.wanted !== undefined && s.present < s.wanted;
      array = {
        map: s.map,
        degraded,
        sync: s.sync,
        failed: state.absent?.failed ?? [],
        leftOut: state.absent?.leftOut ?? [],
        missing: state.absent?.missing ?? 0,
      };
    }
  }
  const mount = await filesystemLayer.mountOf(ctx);
  // a foreign disk at the target's place (its token, the token layer's state) is named, never read
  const token = layers.find((l) => l.layer === 'token');
  const refused = mount?.fsType === 'btrfs' && token?.up === false ? foreignDisk(config, token.detail) : undefined;
  const usable = mount?.fsType === 'btrfs' && !refused ? mount : undefined;
  const targetListing = usable ? await listTargetSubvolumes(runner, usable).catch(() => undefined) : undefined;
  const sources = await Promise.all(
    config.sources.map((s) => sourceStatus(runner, config, s, record, mounts, usable, targetListing, now)),
  );
  const status: Status = {
    ok: true,
    at: now.toISOString(),
    config: config.file,
    target: {
      mountpoint: config.target.mountpoint,
      mounted: usable !== undefined,
      lastSeen: record.targetSeen ?? null,
      layers,
      array,
      space: usable ? freeSpace(usable.mountPoint) : null,
    },
    retention: { configured: config.retention !== undefined, minFree: minFreeText(config) },
    sources,
    targets: targetsStatus(config, record, mounts, now, only, await pinsHeld(runner, config, record)),
    remotes: remotesStatus(config, record, now, only),
    warnings: [],
    exitCode: 0,
  };
  const problem = hostRecordProblem(config.file);
  const unreadable = problem === undefined ? undefined : unreadableRecord(hostRecordFile(config.file), problem);
  status.warnings = [
    ...(unreadable
      ? [{ code: 'host-record-unreadable' as const, message: unreadable.message, fix: unreadable.fix }]
      : []),
    ...(refused ? [refused] : []),
    ...warningsOf(status, config, record, now),
    ...targetWarnings(config, status.targets, now),
    ...remoteWarnings(status.remotes, now),
  ];
  status.ok = status.warnings.length === 0;
  return status;
}

function foreignDisk(config: VaultConfig, reason: string): StatusWarning {
  const e = foreignDiskError(config, reason, 'its backups were not read');
  return { code: 'foreign-disk', message: e.message, fix: e.fix };
}

async function sourceStatus(
  runner: Runner,
  config: VaultConfig,
  s: VaultConfig['sources'][number],
  record: HostRecord,
  mounts: MountEntry[],
  target: MountEntry | undefined,
  targetListing: readonly Subvolume[] | undefined,
  now: Date,
): Promise<SourceStatus> {
  const r = record.sources[s.name];
  const near = await mountOfNearest(s.snapshotDir, mounts);
  const snaps =
    near && near.mount.fsType === 'btrfs' && near.real === s.snapshotDir
      ? snapshotsIn(await listSubvolumes(runner, near.mount).catch(() => []), s.snapshotDir)
      : [];
  const targetDir = target ? join(target.mountPoint, s.name) : undefined;
  const dst = targetDir && targetListing ? childrenOf(targetListing, targetDir) : undefined;
  // a snapshot someone made of a backup is not one
  const complete = dst ? firstOfEachCopy(dst.filter(isCompleteCopy)) : undefined;
  const parent = complete ? chooseParent({ source: snaps, target: complete }) : undefined;
  const recorded = targetDir ? readReceiveRecord(targetDir)?.name : undefined;
  let wouldDelete: SourceStatus['retentionWouldDelete'] = null;
  if (config.retention && complete && targetDir && dst) {
    const { plan } = planSource({
      sourceListing: snaps,
      targetListing: dst,
      snapDir: s.snapshotDir,
      targetDir,
      rules: config.retention,
      otherPins: rotationPins(config, s.name).pins,
      now,
    });
    wouldDelete = {
      source: plan.source.filter((d) => !d.keep).length,
      target: plan.target.filter((d) => !d.keep).length,
    };
  }
  // no run recorded under this config (a config moved, /var/lib lost): the newest pair on the disk says when
  const onDisk =
    parent?.kind === 'incremental' && !isFutureName(parent.parent, now)
      ? snapshotTime(parent.parent)?.toISOString()
      : undefined;
  const last = r?.lastSuccess ?? onDisk ?? null;
  return {
    source: s.path,
    name: s.name,
    lastSuccess: last,
    ageSeconds: last ? Math.round((now.getTime() - Date.parse(last)) / 1000) : null,
    lastError: r?.lastFailure && (!last || r.lastFailure > last) ? (r.lastError ?? 'failed') : null,
    snapshots: {
      source: snaps.length,
      target: complete ? complete.filter((d) => isSnapshotName(d.name)).length : null,
    },
    nextParent: parent?.kind === 'incremental' ? parent.parent : null,
    incomplete: dst?.filter((d) => !isCompleteCopy(d) && d.name === recorded).map((d) => d.name) ?? [],
    retentionWouldDelete: wouldDelete,
    futureNames: [...new Set([...snaps, ...(complete ?? [])].map((x) => x.name).filter((n) => isFutureName(n, now)))],
  };
}

function minFreeText(config: VaultConfig): string | null {
  const m = config.target.minFree;
  return m === undefined ? null : 'percent' in m ? `${m.percent}%` : formatBytes(m.bytes);
}

function warningsOf(status: Status, config: VaultConfig, record: HostRecord, now: Date): StatusWarning[] {
  const maxAge = config.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  const age = formatDuration(maxAge * 1000);
  const out: StatusWarning[] = [];
  for (const s of status.sources) {
    if (s.lastSuccess === null)
      out.push({ code: 'no-backup', source: s.source, message: `${s.source} has never been backed up` });
    else if (s.ageSeconds! > maxAge)
      out.push({
        code: 'stale-backup',
        source: s.source,
        message: `the last backup of ${s.source} is ${formatDuration(s.ageSeconds! * 1000)} old (status.max_age: ${age})`,
      });
    if (s.lastError)
      out.push({
        code: 'last-run-failed',
        source: s.source,
        message: `the last run for ${s.source} failed: ${s.lastError.split('\n')[0]}`,
      });
    if (s.futureNames.length) {
      out.push({
        code: 'future-name',
        source: s.source,
        message: `${s.source} has snapshots named in the future (${s.futureNames.join(', ')}): they were made while the clock was set forward; btrfs-vault orders backups by when btrfs made them, not by name`,
        fix: `check the clock (timedatectl; NTP); nothing else is needed: retention counts ${s.futureNames.length > 1 ? 'them' : 'it'} by ${s.futureNames.length > 1 ? 'their' : 'its'} creation and deletes ${s.futureNames.length > 1 ? 'them' : 'it'} in turn (btrfs-vault list shows why each is kept)`,
      });
    }
    if (s.incomplete.length)
      out.push({
        code: 'incomplete-copy',
        source: s.source,
        message: `${s.source} has an incomplete copy on the disk (${s.incomplete.join(', ')}); the next backup deletes it`,
      });
  }
  const a = status.target.array;
  // degraded by design until the second disk is added; a warning once a member exists that is not mirroring
  if (a?.degraded && (a.failed.length > 0 || a.leftOut.length > 0 || record.mirrored)) {
    out.push({
      code: 'degraded',
      message: `the mirror ${config.target.array} is degraded ${a.map ?? ''}: ${[...a.failed.map((f) => `${f} failed`), ...a.leftOut.map((f) => `${f} left out`), ...(a.missing ? [`${a.missing} member(s) not attached`] : [])].join(', ')}; see: btrfs-vault open`,
    });
  }
  if (!status.retention.configured) {
    const message = status.retention.minFree
      ? `no [retention] in the config: snapshots on the source are never deleted, and backups only when the disk has less than min_free = ${status.retention.minFree} free (see README, "Configuration")`
      : 'no [retention] in the config: nothing is ever deleted, and the disks fill up (see README, "Configuration")';
    out.push({ code: 'retention-disabled', message });
  }
  const seen = status.target.lastSeen ? Date.parse(status.target.lastSeen) : undefined;
  // several disks: each disk's own max_age says (targetWarnings)
  if (!rotates(config) && !status.target.mounted && seen !== undefined && now.getTime() - seen > maxAge * 1000) {
    out.push({
      code: 'target-not-seen',
      message: `the backup disk was last seen ${formatDuration(now.getTime() - seen)} ago: plug it in`,
    });
  }
  return out;
}

/** What a person reads. */
export function statusLines(s: Status): string[] {
  const lines: string[] = [];
  const ago = (sec: number | null) => (sec === null ? 'never' : `${formatDuration(sec * 1000)} ago`);
  lines.push(...remoteLines(s.remotes));
  if (s.targets.length > 1 || (s.targets.length === 1 && s.targets[0]?.name !== SINGLE_TARGET_NAME))
    lines.push('backup disks (* the one below):', ...targetLines(s.targets, s.target.mountpoint), '');
  // a config of backup servers alone has no disk to show
  if (s.targets.length > 0 || s.remotes.length === 0) {
    lines.push(
      `backup disk ${s.target.mountpoint}: ${s.target.mounted ? 'mounted' : 'not mounted'}${s.target.lastSeen ? `, last seen ${s.target.lastSeen}` : ''}`,
    );
    for (const l of s.target.layers) lines.push(`  ${l.layer.padEnd(10)} ${l.up ? 'up  ' : 'down'}  ${l.detail}`);
  }
  if (s.target.space)
    lines.push(`  space      ${formatBytes(s.target.space.free)} free of ${formatBytes(s.target.space.size)}`);
  const minFree = s.retention.minFree
    ? `min_free ${s.retention.minFree} deletes the oldest backups when the disk is short of space`
    : undefined;
  lines.push(
    `retention: ${s.retention.configured ? 'on' : minFree ? 'off (snapshots are kept)' : 'off (everything is kept)'}${minFree ? `; ${minFree}` : ''}`,
  );
  for (const src of s.sources) {
    lines.push('', `${src.source}`);
    lines.push(`  last backup  ${src.lastSuccess ?? 'never'} (${ago(src.ageSeconds)})`);
    lines.push(
      `  snapshots    ${src.snapshots.source} on the source, ${src.snapshots.target ?? '?'} on the disk${src.nextParent ? `; next parent ${src.nextParent}` : ''}`,
    );
    if (src.retentionWouldDelete)
      lines.push(
        `  retention    the next prune deletes ${src.retentionWouldDelete.source} snapshot(s), ${src.retentionWouldDelete.target} backup(s)`,
      );
  }
  lines.push('');
  if (s.warnings.length === 0) lines.push('all well');
  for (const w of s.warnings) lines.push(`! ${w.message}${w.fix ? `\n  fix: ${w.fix}` : ''}`);
  return lines;
}

/**
 * status as the command asks: the disk named with --target, else (several disks) the
 * first attached one in detail, each disk in a line of its own.
 */
export async function collectStatusFor(runner: Runner, config: VaultConfig, name: string | undefined): Promise<Status> {
  const named = namedTargets(config, name);
  if (!rotates(config)) return collectStatus(runner, config, new Date(), name);
  const shown = name !== undefined ? named[0]! : (attachedTargets(config, undefined).attached[0] ?? named[0]!);
  return collectStatus(runner, viewOf(config, shown), new Date(), name);
}
