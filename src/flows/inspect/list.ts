import { join } from 'node:path';
import { LATEST, readLink } from '../../btrfs/links.js';
import { readReceiveRecord } from '../../btrfs/receive-record.js';
import { escapeName } from '../../core/byte-names.js';
import type { RetentionDecision } from '../../core/retention.js';
import { mountOfNearest } from '../../btrfs/paths.js';
import {
  childrenOf,
  firstOfEachCopy,
  isCompleteCopy,
  listSubvolumes,
  listTargetSubvolumes,
  type Subvolume,
} from '../../btrfs/subvolumes.js';
import type { SourceConfig, VaultConfig } from '../../config/config.js';
import { isSnapshotName } from '../../core/naming.js';
import { isFutureName } from '../../core/retention.js';
import { byCreation } from '../../core/snapshot-order.js';
import type { MountEntry } from '../../core/mountinfo.js';
import { readMounts } from '../../system/mounts.js';
import type { Runner } from '../../system/runner.js';
import { filesystemLayer } from '../../stack/filesystem.js';
import { assertOurDisk } from '../../stack/token.js';
import { planSource } from '../retention/retention-plan.js';
import { rotationPins } from '../retention/rotation-pins.js';

export interface SnapshotRow {
  name: string;
  source: boolean;
  target: boolean;
  /** the target copy's name, when it differs from the snapshot's (a renamed backup) */
  targetName?: string;
  /** the same data on both sides (source UUID = target received UUID), as backup pairs them */
  paired: boolean;
  latestSource: boolean;
  latestTarget: boolean;
  /** named later than now: made while the clock was set forward (ordered by creation all the same) */
  future?: boolean;
  /** with [retention]: why each side keeps it, or [] when the next prune deletes it (undefined: not on that side) */
  retention?: { source?: string[]; target?: string[] };
}

export interface SourceListing {
  source: string;
  name: string;
  snapshotDir: string;
  targetDir?: string;
  snapshots: SnapshotRow[];
  /** receives an interrupted run recorded and did not finish (the next backup deletes them) */
  incomplete: string[];
  /** subvolumes in the backup folder that btrfs-vault did not make, or that were changed: left alone */
  foreign: string[];
  /** `latest` links that point at nothing */
  dangling: string[];
  error?: string;
}

export interface Listing {
  target: string;
  targetMounted: boolean;
  sources: SourceListing[];
}

/** Read-only: what exists on each side, which snapshots pair up, where `latest` points. */
export async function listBackups(runner: Runner, config: VaultConfig, sources: SourceConfig[]): Promise<Listing> {
  const mounts = await readMounts();
  const targetMount = await filesystemLayer.mountOf({ runner, config, mounts: async () => mounts });
  const usable = targetMount?.fsType === 'btrfs' ? targetMount : undefined;
  // a foreign disk at the target's place is refused, never listed as ours
  if (usable) assertOurDisk(config);
  const cache = new Map<string, Promise<readonly Subvolume[]>>();
  const subvolumesOf = (m: MountEntry) => {
    const key = `${m.device} ${m.mountPoint}`;
    if (!cache.has(key)) cache.set(key, listSubvolumes(runner, m));
    return cache.get(key)!;
  };
  const targetListing = usable ? listTargetSubvolumes(runner, usable) : undefined;
  targetListing?.catch(() => {}); // awaited per source below
  const out: SourceListing[] = [];
  for (const s of sources) {
    const entry: SourceListing = {
      source: s.path,
      name: s.name,
      snapshotDir: s.snapshotDir,
      snapshots: [],
      incomplete: [],
      foreign: [],
      dangling: [],
    };
    out.push(entry);
    try {
      await listSource(entry, s, config, { mounts, usable, targetListing, subvolumesOf });
    } catch (err) {
      entry.error = (err as Error).message;
    }
  }
  return { target: config.target.mountpoint, targetMounted: Boolean(usable), sources: out };
}

/** What a run reads once, for every source. */
interface ListingContext {
  mounts: readonly MountEntry[];
  /** the target's mount, when it is a mounted btrfs filesystem */
  usable: MountEntry | undefined;
  targetListing: Promise<readonly Subvolume[]> | undefined;
  subvolumesOf: (m: MountEntry) => Promise<readonly Subvolume[]>;
}

/** One source's rows (oldest first by creation, as backup and prune order them), and what is left over. */
async function listSource(
  entry: SourceListing,
  s: SourceConfig,
  config: VaultConfig,
  ctx: ListingContext,
): Promise<void> {
  const { src, dst } = await sidesOf(entry, s, ctx);
  const srcLatest = readLink(s.snapshotDir, LATEST);
  const dstLatest = entry.targetDir ? readLink(entry.targetDir, LATEST) : undefined;
  const recorded = entry.targetDir ? readReceiveRecord(entry.targetDir)?.name : undefined;
  const complete = firstOfEachCopy(dst.filter(isCompleteCopy)); // a snapshot someone made of a backup is not one
  const snaps = byCreation(src.filter((x) => isSnapshotName(x.name)));
  const { rows, paired } = snapshotRows(snaps, complete, srcLatest, dstLatest);
  if (config.retention && entry.targetDir) {
    // the plan prune applies, from the same listings in the same order
    const { plan } = planSource({
      sourceListing: src,
      targetListing: dst,
      snapDir: s.snapshotDir,
      targetDir: entry.targetDir,
      rules: config.retention,
      otherPins: rotationPins(config, s.name).pins,
    });
    const why = (list: RetentionDecision[], name: string | undefined) => list.find((d) => d.name === name)?.reasons;
    for (const row of rows)
      row.retention = {
        source: row.source ? why(plan.source, row.name) : undefined,
        target: row.target ? why(plan.target, row.targetName ?? row.name) : undefined,
      };
  }
  const now = new Date();
  for (const row of rows) if (isFutureName(row.name, now)) row.future = true;
  entry.snapshots = rows;
  entry.incomplete = dst.filter((d) => !isCompleteCopy(d) && d.name === recorded).map((d) => d.name);
  entry.foreign = dst
    .filter(
      (d) =>
        (!isCompleteCopy(d) && d.name !== recorded) ||
        (isCompleteCopy(d) && (!complete.includes(d) || (!isSnapshotName(d.name) && !paired.has(d.name)))),
    )
    .map((d) => escapeName(d.name)); // escaped: a name may hold a newline or a terminal escape
  if (srcLatest !== undefined && !snaps.some((x) => x.name === srcLatest))
    entry.dangling.push(`${s.snapshotDir}/latest -> ${srcLatest}`);
  if (dstLatest !== undefined && !complete.some((x) => x.name === dstLatest))
    entry.dangling.push(`${entry.targetDir}/latest -> ${dstLatest}`);
}

/** What is in the source's snapshot folder, and (the target mounted) in its backup folder. */
async function sidesOf(
  entry: SourceListing,
  s: SourceConfig,
  { mounts, usable, targetListing, subvolumesOf }: ListingContext,
): Promise<{ src: Subvolume[]; dst: Subvolume[] }> {
  const near = await mountOfNearest(s.snapshotDir, mounts);
  const src =
    near && near.mount.fsType === 'btrfs' && near.real === s.snapshotDir
      ? childrenOf(await subvolumesOf(near.mount), s.snapshotDir)
      : [];
  let dst: Subvolume[] = [];
  if (usable && targetListing) {
    entry.targetDir = join(usable.mountPoint, s.name);
    dst = childrenOf(await targetListing, entry.targetDir);
  }
  return { src, dst };
}

/**
 * The snapshots as rows, paired as backup pairs them (a read-only copy whose received
 * UUID is the snapshot's, whatever its name), and the backups whose snapshot is gone
 * from the source, each where the target made it (the two filesystems' generations do
 * not compare: the target's order places them).
 */
function snapshotRows(
  snaps: readonly Subvolume[],
  complete: readonly Subvolume[],
  srcLatest: string | undefined,
  dstLatest: string | undefined,
): { rows: SnapshotRow[]; paired: Set<string> } {
  const byReceived = new Map(complete.map((d) => [d.receivedUuid!, d]));
  const paired = new Set<string>();
  const targetRank = new Map(complete.map((d, i) => [d.name, i]));
  const sourceRows: { row: SnapshotRow; rank?: number }[] = snaps.map((a) => {
    const pair = byReceived.get(a.uuid);
    const t = pair ?? complete.find((d) => d.name === a.name);
    if (t) paired.add(t.name);
    const row: SnapshotRow = {
      name: a.name,
      source: true,
      target: Boolean(t),
      ...(t && t.name !== a.name ? { targetName: t.name } : {}),
      paired: Boolean(pair),
      latestSource: srcLatest === a.name,
      latestTarget: t !== undefined && dstLatest === t.name,
    };
    return { row, rank: t ? targetRank.get(t.name) : undefined };
  });
  const targetOnly = complete
    .filter((x) => !paired.has(x.name) && isSnapshotName(x.name))
    .map((d) => ({
      row: {
        name: d.name,
        source: false,
        target: true,
        paired: false,
        latestSource: false,
        latestTarget: dstLatest === d.name,
      },
      rank: targetRank.get(d.name)!,
    }));
  const rows: SnapshotRow[] = [];
  for (const r of sourceRows) {
    while (r.rank !== undefined && targetOnly.length > 0 && targetOnly[0]!.rank < r.rank)
      rows.push(targetOnly.shift()!.row);
    rows.push(r.row);
  }
  rows.push(...targetOnly.map((t) => t.row));
  return { rows, paired };
}

export function listingLines(listing: Listing): string[] {
  const lines: string[] = [];
  if (!listing.targetMounted)
    lines.push(`target ${listing.target} is not mounted: showing the source side only (run: btrfs-vault open)`);
  for (const s of listing.sources) {
    lines.push('', `${s.source}  (snapshots in ${s.snapshotDir}${s.targetDir ? `, backups in ${s.targetDir}` : ''})`);
    if (s.error) lines.push(`  error: ${s.error}`);
    if (s.snapshots.length === 0 && !s.error) lines.push('  no snapshots yet');
    for (const r of s.snapshots) {
      const where = r.paired
        ? 'both sides (pair)'
        : r.source && r.target
          ? 'both sides, DIFFERENT data'
          : r.source
            ? 'source only'
            : 'target only';
      const renamed = r.targetName ? ` (on target: ${escapeName(r.targetName)})` : '';
      const latest = [r.latestSource && 'latest on source', r.latestTarget && 'latest on target']
        .filter(Boolean)
        .join(', ');
      const future = r.future ? '  (named in the future: the clock was set forward; ordered by when it was made)' : '';
      lines.push(
        `  ${escapeName(r.name)}  ${where}${renamed}${latest ? `  <- ${latest}` : ''}${future}${r.retention ? `  [${retentionText(r.retention)}]` : ''}`,
      );
    }
    for (const i of s.incomplete)
      lines.push(`  ${escapeName(i)}  INCOMPLETE on target (an interrupted run; the next backup deletes it)`);
    for (const f of s.foreign)
      lines.push(`  ${f}  on target, not a backup made by btrfs-vault (or made writable since): left alone`);
    for (const d of s.dangling)
      lines.push(`  ! ${escapeName(d)}, which does not exist (the next backup points it at the new backup)`);
  }
  return lines;
}

function retentionText(r: NonNullable<SnapshotRow['retention']>): string {
  const side = (name: string, reasons: string[] | undefined) =>
    reasons === undefined
      ? []
      : [`${name}: ${reasons.length > 0 ? `kept, ${reasons.join(', ')}` : 'deleted by the next prune'}`];
  return [...side('source', r.source), ...side('target', r.target)].join('; ');
}
