import type { VaultConfig } from '../../config/config.js';
import { currentTarget, rotates, targetsOf } from '../../config/target-view.js';
import type { OtherPin } from '../../core/prune-plan.js';
import { readHostRecord, type HostRecord } from '../../system/host-record.js';

// With several backup disks, the source keeps for each disk the newest snapshot it holds
// (its pin), so that disk's next run is incremental, until the disk has been away for
// its keep_for_absent: then the pin is let go. The host's record says what each disk
// holds, as the disk itself may be away.

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
    if (!pin) continue;
    // a clock set back makes `seen` lie in the future: away for no time, the pin stays
    const away = rec?.seen === undefined ? 0 : now.getTime() - Date.parse(rec.seen);
    if (away > t.keepForAbsentSeconds * 1000) {
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

/** What a source's retention passes on: the other disks' pins, and a warning for each pin let go that is still there. */
export function pinsForRetention(
  config: VaultConfig,
  source: { name: string; path: string },
  stillThere: (snapshot: string) => boolean,
): { otherPins: OtherPin[]; warnings: string[] } {
  const { pins, letGo } = rotationPins(config, source.name);
  return {
    otherPins: pins,
    warnings: letGo.filter((l) => stillThere(l.snapshot)).map((l) => letGoWarning(l, source.path)),
  };
}
