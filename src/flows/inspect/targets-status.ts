import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { VaultConfig } from '../../config/config.js';
import { rotates, targetsOf, viewOf } from '../../config/target-view.js';
import type { MountEntry } from '../../core/mountinfo.js';
import { targetAttached } from '../../stack/presence.js';
import type { HostRecord } from '../../system/host-record.js';
import { formatDuration } from '../../ui/format.js';
import type { Runner } from '../../system/runner.js';
import { disksHere, pinsOnSource, rotationPins } from '../retention/rotation-pins.js';

// status, per backup disk: attached or not, its last backup and its age, when it was last
// seen, and per source its pin (the newest snapshot it holds, kept on the source while it
// is away). Read from the host's record and the mount table: a disk away answers too.

export interface TargetPinStatus {
  source: string;
  snapshot: string;
  /** still on the source: the disk's next run is incremental from it */
  onSource: boolean;
  /** the disk has been away longer than its keep_for_absent: retention no longer keeps it */
  letGo: boolean;
}

export interface TargetStatus {
  name: string;
  mountpoint: string;
  attached: boolean;
  /** ISO time of its last backup; null: none yet */
  lastBackup: string | null;
  ageSeconds: number | null;
  /** ISO time it was last opened and its token accepted; null: never */
  lastSeen: string | null;
  /** its max_age, in seconds: away longer is a warning (several disks) */
  maxAgeSeconds: number;
  pins: TargetPinStatus[];
}

export interface TargetWarning {
  code: 'target-away' | 'pin-let-go';
  message: string;
  target: string;
  source?: string;
  fix?: string;
}

/** Each disk of the config (or the one a --target view is about). */
export function targetsStatus(
  config: VaultConfig,
  record: HostRecord,
  mounts: readonly MountEntry[],
  now: Date,
  only?: string,
  /** the pins' paths still on the source as the snapshot the disk holds (`pinsOnSource`); by name when not given */
  onSource: (path: string) => boolean = existsSync,
): TargetStatus[] {
  return targetsOf(config)
    .filter((t) => only === undefined || t.name === only)
    .map((t) => {
      const rec = record.targets?.[t.name];
      const view = viewOf(config, t);
      const secondsSince = (iso: string | undefined) =>
        iso === undefined ? null : Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
      // the pins let go are those another disk's view would not keep
      const other = targetsOf(config).find((x) => x.name !== t.name);
      const pins = config.sources.flatMap((s): TargetPinStatus[] => {
        const pin = rec?.pins?.[s.name];
        if (!pin) return [];
        const kept = other
          ? rotationPins(viewOf(config, other), s.name, record, now, disksHere(config, mounts))
          : undefined;
        return [
          {
            source: s.path,
            snapshot: pin.snapshot,
            onSource: onSource(join(s.snapshotDir, pin.snapshot)),
            letGo: kept?.letGo.some((l) => l.target === t.name) ?? false,
          },
        ];
      });
      return {
        name: t.name,
        mountpoint: t.mountpoint,
        attached: targetAttached(view, mounts),
        lastBackup: rec?.lastBackup ?? null,
        ageSeconds: secondsSince(rec?.lastBackup),
        lastSeen: rec?.seen ?? null,
        maxAgeSeconds: t.maxAgeSeconds,
        pins,
      };
    });
}

/** Several disks: one away longer than its max_age, and a pin let go. */
export function targetWarnings(config: VaultConfig, targets: readonly TargetStatus[], now: Date): TargetWarning[] {
  if (!rotates(config)) return [];
  const out: TargetWarning[] = [];
  for (const t of targets) {
    const seen = t.lastSeen === null ? undefined : Date.parse(t.lastSeen);
    if (!t.attached && seen !== undefined && now.getTime() - seen > t.maxAgeSeconds * 1000) {
      out.push({
        code: 'target-away',
        target: t.name,
        message: `the ${t.name} disk has not been seen for ${inDays(now.getTime() - seen)} (max_age: ${inDays(t.maxAgeSeconds * 1000)})`,
        fix: `plug it in and run: btrfs-vault backup --target ${t.name}`,
      });
    }
    if (!t.attached && seen === undefined && t.lastBackup === null) {
      out.push({
        code: 'target-away',
        target: t.name,
        message: `the ${t.name} disk has never had a backup`,
        fix: `plug it in and run: btrfs-vault backup --target ${t.name}`,
      });
    }
    for (const p of t.pins.filter((x) => x.letGo || !x.onSource)) {
      out.push({
        code: 'pin-let-go',
        target: t.name,
        source: p.source,
        message: `the ${t.name} disk's newest snapshot of ${p.source} (${p.snapshot}) ${p.onSource ? 'is let go (the disk was away longer than its keep_for_absent)' : 'is no longer on the source'}: its next backup of ${p.source} will be full`,
      });
    }
  }
  return out;
}

// "34 days", as a person counts a disk's absence; under two days, hours and minutes
const inDays = (ms: number) => (ms >= 2 * 86_400_000 ? `${Math.floor(ms / 86_400_000)} days` : formatDuration(ms));

/** What a person reads, a line or two per disk. */
export function targetLines(targets: readonly TargetStatus[], shown: string): string[] {
  const ago = (sec: number | null) => (sec === null ? 'never' : `${formatDuration(sec * 1000)} ago`);
  return targets.flatMap((t) => [
    `${t.mountpoint === shown ? '*' : ' '} ${t.name} (${t.mountpoint}): ${t.attached ? 'attached' : 'not attached'}; last backup ${t.lastBackup ?? 'never'} (${ago(t.ageSeconds)}); last seen ${t.lastSeen ?? 'never'}`,
    ...t.pins.map(
      (p) =>
        `    pin of ${p.source}: ${p.snapshot}${p.onSource ? (p.letGo ? ' (let go: retention no longer keeps it)' : '') : ' (gone from the source: the next backup is full)'}`,
    ),
  ]);
}

/** Which recorded pins are still on the source as the snapshot their disk holds (several disks; one disk: by name). */
export async function pinsHeld(
  runner: Runner,
  config: VaultConfig,
  record: HostRecord,
): Promise<(path: string) => boolean> {
  if (!rotates(config)) return existsSync;
  const pins = targetsOf(config).flatMap((t) =>
    config.sources.flatMap((s) => {
      const pin = record.targets?.[t.name]?.pins?.[s.name];
      return pin ? [{ path: join(s.snapshotDir, pin.snapshot), uuid: pin.uuid }] : [];
    }),
  );
  const held = await pinsOnSource(runner, pins);
  return (path) => held.has(path);
}
