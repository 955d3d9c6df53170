import { join } from 'node:path';
import { btrfs } from '../../btrfs/commands.js';
import { LATEST, readLink } from '../../btrfs/links.js';
import type { Subvolume } from '../../btrfs/subvolumes.js';
import type { RemoteTargetConfig, VaultConfig } from '../../config/config.js';
import { planPrune } from '../../core/prune-plan.js';
import type { Runner } from '../../system/runner.js';
import { repairPrevious } from '../retention/prune-source.js';
import { assertPinsReadable, letGoWarning, rotationPins } from '../retention/rotation-pins.js';

// The source's retention after a backup to a server: the same rules and hard rules as
// after a disk's (the next parent, what no target has had, every other target's pin).
// The server's own copies are the server's to prune (append-only for the client).

export async function pruneRemoteSource(input: {
  config: VaultConfig;
  remote: RemoteTargetConfig;
  runner: Runner;
  snapDir: string;
  /** the source's snapshots, oldest first by creation, the one just sent last */
  snaps: readonly Pick<Subvolume, 'name' | 'uuid'>[];
  /** what the server holds of this source: the received UUIDs */
  backups: readonly { name?: string; receivedUuid: string }[];
  sourcePath: string;
  sourceName: string;
}): Promise<{ deleted: string[]; warnings: string[] }> {
  const { config, runner, snapDir } = input;
  assertPinsReadable(config, input.sourcePath);
  const { pins, letGo } = rotationPins(config, input.sourceName, undefined, undefined, undefined, input.remote.name);
  const plan = planPrune({
    source: input.snaps.map((s) => ({ name: s.name, uuid: s.uuid })),
    target: input.backups.map((b) => ({ name: b.name ?? b.receivedUuid, uuid: b.receivedUuid })),
    sourceLatest: readLink(snapDir, LATEST),
    sourceRules: config.retention?.source,
    now: new Date(),
    otherPins: pins,
  });
  const doomed = plan.source.filter((d) => !d.keep).map((d) => d.name);
  const warnings = letGo
    .filter((l) => input.snaps.some((s) => s.name === l.snapshot))
    .map((l) => letGoWarning(l, input.sourcePath));
  if (doomed.length === 0) return { deleted: [], warnings };
  try {
    await runner.run(btrfs.deleteMany(doomed.map((n) => join(snapDir, n))));
  } finally {
    repairPrevious(
      runner,
      snapDir,
      plan.source.filter((d) => d.keep).map((d) => d.name),
    );
  }
  return { deleted: doomed, warnings };
}
