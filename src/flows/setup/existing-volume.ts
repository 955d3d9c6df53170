import { readdirSync, readlinkSync } from 'node:fs';
import { makeScratchDir, removeScratchMountPoint } from '../../system/scratch.js';
import { join } from 'node:path';
import { TargetError } from '../../core/errors.js';
import { OWNER_FILE } from '../../btrfs/folders.js';
import { LATEST } from '../../btrfs/links.js';
import { exists, waitForDevice } from '../../stack/devices.js';
import { luksCommands } from '../../stack/luks.js';
import { lvmCommands } from '../../stack/lvm.js';
import { mountCommands } from '../../stack/filesystem.js';
import { sha512 } from '../../stack/token.js';
import { readBytesNoFollow, readFileNoFollow } from '../../system/no-follow.js';
import type { Runner } from '../../system/runner.js';

// A rebuilt machine: the backup disk already holds a logical volume named for this
// host. Setup then reconnects to it instead of creating one; what it needs to know
// (and show before anything is written) is read here, through a read-only mount.

export interface FoundFolder {
  /** the folder's name on the backup filesystem (what `restore NAME` takes) */
  name: string;
  /** the source it holds, as its owner file says (the lost machine's path) */
  source?: string;
  /** where `latest` points */
  latest?: string;
}

export interface HostVolume {
  /** the SHA-512 of the token on the volume's filesystem */
  tokenSha512: string;
  folders: FoundFolder[];
}

export interface VolumeProbe {
  array: string;
  luksName: string;
  volumeGroup: string;
  host: string;
  tokenName: string;
}

/**
 * With the array assembled and the passphrase known: does the volume group hold a
 * volume for this host? If so, its token's SHA-512 and its backup folders, read with
 * the filesystem mounted read-only. Whatever this opened is closed again; only the
 * array is left as it was found. Not for a dry-run (it opens LUKS).
 */
export async function findHostVolume(
  runner: Runner,
  p: VolumeProbe,
  passphrase: string,
): Promise<HostVolume | undefined> {
  const mapped = `/dev/mapper/${p.luksName}`;
  const openedLuks = !(await exists(mapped));
  if (openedLuks) await runner.run(luksCommands.openWithPassphrase(p.array, p.luksName), { input: passphrase });
  let activated = false;
  try {
    await runner.run(['udevadm', ['settle']]);
    const lvs = await runner.query(lvmCommands.names(p.volumeGroup), { allowFailure: true });
    if (
      !lvs.stdout
        .split('\n')
        .map((l) => l.trim())
        .includes(p.host)
    )
      return undefined;
    const device = `/dev/${p.volumeGroup}/${p.host}`;
    activated = true;
    await runner.run(lvmCommands.activate(p.volumeGroup, p.host));
    if (!(await waitForDevice(device)))
      throw new TargetError(`${device} did not appear after activating it`, 'run setup again');
    return await readVolume(runner, device, p);
  } finally {
    if (activated || openedLuks) await runner.run(lvmCommands.deactivateGroup(p.volumeGroup), { allowFailure: true });
    if (openedLuks) await runner.run(luksCommands.close(p.luksName));
  }
}

async function readVolume(runner: Runner, device: string, p: VolumeProbe): Promise<HostVolume> {
  const dir = makeScratchDir('/run/btrfs-vault-probe-');
  await runner.run(mountCommands.mountReadOnly(device, dir));
  try {
    const token = readBytesNoFollow(join(dir, p.tokenName));
    if (!token) {
      throw new TargetError(
        `the volume ${p.volumeGroup}/${p.host} has no token file ${p.tokenName}: it is not a backup volume setup finished`,
        `look at it (mount -o ro ${device} /mnt), and remove it if it is a leftover (lvremove ${p.volumeGroup}/${p.host}), or choose another host name (--host)`,
      );
    }
    const folders = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e): FoundFolder => ({
        name: e.name,
        source: ownerSource(join(dir, e.name)),
        latest: linkTarget(join(dir, e.name, LATEST)),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return { tokenSha512: sha512(token), folders };
  } finally {
    await runner.run(mountCommands.umount(dir));
    removeScratchMountPoint(dir);
  }
}

function ownerSource(dir: string): string | undefined {
  try {
    const owner = JSON.parse(readFileNoFollow(join(dir, OWNER_FILE)) ?? '') as { source?: unknown };
    return typeof owner.source === 'string' ? owner.source : undefined;
  } catch {
    return undefined;
  }
}

function linkTarget(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
