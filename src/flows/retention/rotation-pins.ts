import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LATEST, readLink } from '../../btrfs/links.js';
import { subvolumeInfosOrWhy } from '../../btrfs/subvolume-info.js';
import type { NamedTargetConfig, RemoteTargetConfig, VaultConfig } from '../../config/config.js';
import { currentTarget, rotates, targetsOf, viewOf } from '../../config/target-view.js';
import type { MountEntry } from '../../core/mountinfo.js';
import type { OtherPin } from '../../core/prune-plan.js';
import { targetAttached } from '../../stack/presence.js';
import { checkToken } from '../../stack/token.js';
import {
  hostRecordFile,
  hostRecordProblem,
  readHostRecord,
  unreadableRecord,
  type HostRecord,
} from '../../system/host-record.js';
import { UserError } from '../../core/errors.js';
import { readMountsSync } from '../../system/mounts.js';
import type { Runner } from '../../system/runner.js';

// With several backup disks, the source keeps for each disk the newest snapshot it holds
// (its pin), so that disk's next run is incremental, until the disk has been away for
// its keep_for_absent: then the pin is let go. The host's record says what each disk
// holds, as the disk itself may be away; a disk mounted now says it too (its `latest`),
// so a lost or renamed record does not cost the next disk of a rotation its parent.

/** The disks as they are now: attached or not, and the backup a mounted one's `latest` names. */
export interface DisksHere {
  attached(t: NamedTargetConfig): boolean;
  latest(t: NamedTargetConfig, sourceName: string): string | undefined;
}

export function disksHere(config: VaultConfig, mounts: readonly MountEntry[] = readMountsSync()): DisksHere {
  const ours = new Map<string, boolean>();
  // a mounted disk says what it holds only once its token matched: a foreign disk's links pin nothing
  const isOurs = (t: NamedTargetConfig) => {
    if (!ours.has(t.name)) ours.set(t.name, tokenMatches(viewOf(config, t)));
    return ours.get(t.name)!;
  };
  return {
    attached: (t) => targetAttached(viewOf(config, t), mounts),
    latest: (t, sourceName) =>
      mounts.some((m) => m.mountPoint === t.mountpoint) && isOurs(t)
        ? readLink(join(t.mountpoint, sourceName), LATEST)
        : undefined,
  };
}

function tokenMatches(view: VaultConfig): boolean {
  try {
    return checkToken(view).ok;
  } catch {
    return false;
  }
}

const isDisk = (t: NamedTargetConfig | RemoteTargetConfig): t is NamedTargetConfig => 'mountpoint' in t;

/** A pin let go: the disk has been away too long. */
export interface LetGo {
  target: string;
  snapshot: string;
  /** whole days since the disk was last seen */
  days: number;
  /** keep_for_absent, in days */
  limitDays: number;
}

/** The pins of every disk but the one the config's view is about, for one source; and those let go. */
export function rotationPins(
  config: VaultConfig,
  sourceName: string,
  record: HostRecord = readHostRecord(config.file),
  now: Date = new Date(),
  disks: DisksHere = disksHere(config),
  /** the target the run is about: the view's disk, or a backup server's name */
  here: string = currentTarget(config).name,
): { pins: OtherPin[]; letGo: LetGo[] } {
  // the backup servers hold pins like the disks (a server not reached is "away")
  const all = [...targetsOf(config), ...(config.remotes ?? [])];
  if (!rotates(config) && all.length < 2) return { pins: [], letGo: [] };
  const pins: OtherPin[] = [];
  const letGo: LetGo[] = [];
  for (const t of all) {
    if (t.name === here) continue;
    const rec = record.targets?.[t.name];
    const pin = rec?.pins?.[sourceName];
    // a server is asked only by a run to it: here it is the record's word alone
    const disk = isDisk(t) ? t : undefined;
    // by name alone: a link is a pointer, not a proof, but a pin only ever keeps
    const latest = disk && disks.latest(disk, sourceName);
    if (latest !== undefined && latest !== pin?.snapshot) pins.push({ target: t.name, name: latest });
    if (!pin) continue;
    // a clock set back makes `seen` lie in the future: away for no time, the pin stays;
    // a disk attached now is not away, however long ago it was last seen (its run may
    // come after this one's in the same rotation)
    const away = rec?.seen === undefined ? 0 : now.getTime() - Date.parse(rec.seen);
    if (away > t.keepForAbsentSeconds * 1000 && !(disk && disks.attached(disk))) {
      letGo.push({
        target: t.name,
        snapshot: pin.snapshot,
        days: Math.floor(away / 86_400_000),
        limitDays: Math.round(t.keepForAbsentSeconds / 86_400),
      });
    } else pins.push({ target: t.name, name: pin.snapshot, uuid: pin.uuid });
  }
  return { pins, letGo };
}

/** The warning for a pin let go, while its snapshot is still on the source. */
export function letGoWarning(l: LetGo, sourcePath: string): string {
  return `the ${l.target} disk has not been seen for ${l.days} days (keep_for_absent: ${l.limitDays} days): its pin ${l.snapshot} of ${sourcePath} is let go, and its next backup of ${sourcePath} will be full`;
}

/**
 * Before a source's retention deletes by the other targets' pins: they are in the host's
 * record, so a record that cannot be read holds the deletion (a disk away would lose its
 * parent), with the fix.
 */
export function assertPinsReadable(config: VaultConfig, sourcePath: string): void {
  if (!rotates(config) && (config.remotes ?? []).length === 0) return;
  const problem = hostRecordProblem(config.file);
  if (problem === undefined) return;
  const e = unreadableRecord(hostRecordFile(config.file), problem);
  throw new UserError(
    `nothing of ${sourcePath} is deleted while the other targets' pins cannot be read: ${e.message}`,
    e.fix,
  );
}

/** What a source's retention passes on: the other disks' pins, and a warning for each pin let go that is still there. */
export function pinsForRetention(
  config: VaultConfig,
  source: { name: string; path: string },
  stillThere: (snapshot: string) => boolean,
): { otherPins: OtherPin[]; warnings: string[] } {
  assertPinsReadable(config, source.path);
  const { pins, letGo } = rotationPins(config, source.name);
  return {
    otherPins: pins,
    warnings: letGo.filter((l) => stillThere(l.snapshot)).map((l) => letGoWarning(l, source.path)),
  };
}

/**
 * Of these pins' paths, those still on the source as the very snapshot the disk holds:
 * by name, and by UUID when the record has it (a snapshot deleted and made again under
 * its name is not the disk's parent). One query for all; if it cannot be asked, by name.
 */
export async function pinsOnSource(
  runner: Runner,
  pins: readonly { path: string; uuid?: string }[],
): Promise<Set<string>> {
  const there = pins.filter((p) => existsSync(p.path));
  const infos = await subvolumeInfosOrWhy(
    runner,
    there.map((p) => p.path),
  ).catch(() => there.map(() => undefined));
  return new Set(
    there
      .filter((p, i) => {
        const info = infos[i];
        return info === undefined || (typeof info !== 'string' && (p.uuid === undefined || info.uuid === p.uuid));
      })
      .map((p) => p.path),
  );
}
