import { stat } from 'node:fs/promises';
import type { FstabEntry } from '../core/fstab.js';
import { fstabEntriesFor } from '../system/fstab-file.js';
import type { MountEntry } from '../core/mountinfo.js';
import { readMounts } from '../system/mounts.js';
import type { Runner } from '../system/runner.js';
import { InternalError, TargetError } from '../core/errors.js';
import type { StackContext } from './layer.js';
import { filesystemDevice } from './layers.js';
// Whether setup's mount point is this host's: what is mounted there and what fstab
// says for it are compared with the host's backup device (its logical volume) by
// block device, not by path, so a foreign filesystem mounted there never gets the token.

export interface MountPointUse {
  /** the filesystem on top at the mount point, if any */
  mounted?: MountEntry;
  mountedIsOurs: boolean;
  /** fstab lines for the mount point */
  fstab: { entry: FstabEntry; ours: boolean }[];
}

/** the mount point and the device that belongs there (target.mountpoint, target.device) */
export interface MountPointSpec {
  mountpoint: string;
  device: string;
}

/** Both paths resolve to one block device (false when either is not a block device). */
async function sameBlockDevice(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([stat(a), stat(b)]);
    return x.isBlockDevice() && y.isBlockDevice() && x.rdev === y.rdev;
  } catch {
    return false;
  }
}

/** An fstab device field (a path, or UUID=/LABEL=/... resolved with findfs) names the volume. */
async function fstabNames(runner: Runner, field: string, lv: string): Promise<boolean> {
  // the form setup writes: recognised also while the volume is inactive (after a reboot)
  if (field === lv) return true;
  let device = field;
  if (/^[A-Z]+=/.test(field)) {
    const r = await runner.query(['findfs', [field]], { allowFailure: true });
    if (r.exitCode !== 0) return false;
    device = r.stdout.trim();
  }
  return sameBlockDevice(device, lv);
}

export async function mountPointUse(runner: Runner, spec: MountPointSpec): Promise<MountPointUse> {
  const lv = spec.device;
  const mounted = (await readMounts()).filter((m) => m.mountPoint === spec.mountpoint).at(-1);
  const lines = fstabEntriesFor(spec.mountpoint);
  const fstab = [];
  for (const entry of lines) fstab.push({ entry, ours: await fstabNames(runner, entry.device, lv) });
  return { mounted, mountedIsOurs: mounted !== undefined && (await sameBlockDevice(mounted.source, lv)), fstab };
}

/** Why the mount point cannot be this host's (with the fix), or undefined when it can. */
export function mountPointProblem(
  use: MountPointUse,
  spec: MountPointSpec,
): { message: string; fix: string } | undefined {
  const mp = spec.mountpoint;
  const lv = spec.device;
  const other = 'or choose another mount point for the backup disk';
  if (use.mounted && !use.mountedIsOurs) {
    return {
      message: `${mp} already has ${use.mounted.source} (${use.mounted.fsType}) mounted on it, not this host's backup volume ${lv}; the token must not be written onto a filesystem that is not the backup disk`,
      fix: `unmount it (umount ${mp}), ${other}, then run setup again (it resumes)`,
    };
  }
  const foreign = use.fstab.filter((l) => !l.ours);
  if (foreign.length > 0) {
    return {
      message: `/etc/fstab already has a line for ${mp} that names ${foreign.map((l) => l.entry.device).join(', ')}, not this host's backup volume ${lv}`,
      fix: `remove or change that line in /etc/fstab, ${other}, then run setup again (it resumes)`,
    };
  }
  return undefined;
}

/** How the target's mount point is used; something foreign there (mounted, or in fstab) is refused. */
export async function ownMountPoint(ctx: Pick<StackContext, 'runner' | 'config'>): Promise<MountPointUse> {
  const { mountpoint } = ctx.config.target;
  const device = filesystemDevice(ctx.config.target);
  if (!device) throw new InternalError('the mount point is checked against target.device, and there is none');
  const where = { mountpoint, device };
  const use = await mountPointUse(ctx.runner, where);
  const problem = mountPointProblem(use, where);
  if (problem) throw new TargetError(problem.message, problem.fix);
  return use;
}
