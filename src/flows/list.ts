import { join } from 'node:path';
import { LATEST, readLink } from '../btrfs/links.js';
import { mountOfNearest } from '../btrfs/paths.js';
import { childrenOf, listSubvolumes, type Subvolume } from '../btrfs/subvolumes.js';
import type { SourceConfig, VaultConfig } from '../config/config.js';
import { compareSnapshotNames, isSnapshotName } from '../core/naming.js';
import type { MountEntry } from '../core/mountinfo.js';
import { readMounts } from '../system/mounts.js';
import type { Runner } from '../system/runner.js';
import { filesystemLayer } from '../stack/filesystem.js';

export interface SnapshotRow {
  name: string;
  source: boolean;
  target: boolean;
  /** the same data on both sides (source UUID = target received UUID) */
  paired: boolean;
  latestSource: boolean;
  latestTarget: boolean;
}

export interface SourceListing {
  source: string;
  name: string;
  snapshotDir: string;
  targetDir?: string;
  snapshots: SnapshotRow[];
  incomplete: string[];
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
  const cache = new Map<string, Promise<Subvolume[]>>();
  const subvolumesOf = (m: MountEntry) => {
    const key = `${m.device} ${m.mountPoint}`;
    if (!cache.has(key)) cache.set(key, listSubvolumes(runner, m));
    return cache.get(key)!;
  };
  const out: SourceListing[] = [];
  for (const s of sources) {
    const entry: SourceListing = { source: s.path, name: s.name, snapshotDir: s.snapshotDir, snapshots: [], incomplete: [] };
    out.push(entry);
    try {
      const near = await mountOfNearest(s.snapshotDir, mounts);
      const src = near && near.mount.fsType === 'btrfs' && near.real === s.snapshotDir ? childrenOf(await subvolumesOf(near.mount), s.snapshotDir) : [];
      let dst: Subvolume[] = [];
      if (usable) {
        entry.targetDir = join(usable.mountPoint, s.name);
        dst = childrenOf(await subvolumesOf(usable), entry.targetDir);
      }
      const srcLatest = readLink(s.snapshotDir, LATEST);
      const dstLatest = entry.targetDir ? readLink(entry.targetDir, LATEST) : undefined;
      entry.incomplete = dst.filter((d) => !d.receivedUuid).map((d) => d.name);
      const names = new Set([...src, ...dst.filter((d) => d.receivedUuid)].map((x) => x.name).filter(isSnapshotName));
      entry.snapshots = [...names].sort(compareSnapshotNames).map((name) => {
        const a = src.find((x) => x.name === name);
        const b = dst.find((x) => x.name === name && x.receivedUuid);
        return {
          name,
          source: Boolean(a),
          target: Boolean(b),
          paired: Boolean(a && b && b.receivedUuid === a.uuid),
          latestSource: srcLatest === name,
          latestTarget: dstLatest === name,
        };
      });
    } catch (err) {
      entry.error = (err as Error).message;
    }
  }
  return { target: config.target.mountpoint, targetMounted: Boolean(usable), sources: out };
}

export function listingLines(listing: Listing): string[] {
  const lines: string[] = [];
  if (!listing.targetMounted) lines.push(`target ${listing.target} is not mounted: showing the source side only (run: btrfs-vault open)`);
  for (const s of listing.sources) {
    lines.push('', `${s.source}  (snapshots in ${s.snapshotDir}${s.targetDir ? `, backups in ${s.targetDir}` : ''})`);
    if (s.error) lines.push(`  error: ${s.error}`);
    if (s.snapshots.length === 0 && !s.error) lines.push('  no snapshots yet');
    for (const r of s.snapshots) {
      const where = r.paired ? 'both sides (pair)' : r.source && r.target ? 'both sides, DIFFERENT data' : r.source ? 'source only' : 'target only';
      const latest = [r.latestSource && 'latest on source', r.latestTarget && 'latest on target'].filter(Boolean).join(', ');
      lines.push(`  ${r.name}  ${where}${latest ? `  <- ${latest}` : ''}`);
    }
    for (const i of s.incomplete) lines.push(`  ${i}  INCOMPLETE on target (an interrupted run; the next backup deletes it)`);
  }
  return lines;
}
