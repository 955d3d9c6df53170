import { existsSync } from 'node:fs';
import type { VaultConfig } from '../config/config.js';
import { exists, waitForDevice } from './devices.js';
import { InternalError, TargetError } from '../core/errors.js';
import { escapeFstabField } from '../core/fstab.js';
import { FSTAB, fstabEntriesFor } from '../system/fstab-file.js';
import type { MountEntry } from '../core/mountinfo.js';
import { operand, type Argv } from '../system/runner.js';
import { plainCommands, type CreateOptions, type LayerHandler, type LayerState, type StackContext } from './layer.js';
import { filesystemDevice } from './layers.js';
import { ownMountPoint } from './mount-point.js';
import { firstLine, partitionUdevMatch } from './partition.js';

export const mountCommands = {
  /** by the fstab entry */
  mount: (mountpoint: string): Argv => ['mount', ['--', mountpoint]],
  mountDevice: (device: string, mountpoint: string): Argv => ['mount', ['-t', 'btrfs', '--', device, mountpoint]],
  /** a look that writes nothing: read-only, no log replay */
  mountReadOnly: (device: string, dir: string): Argv => [
    'mount',
    ['-t', 'btrfs', '-o', 'ro,rescue=nologreplay', '--', device, dir],
  ],
  umount: (mountpoint: string): Argv => ['umount', ['--', mountpoint]],
  mkfs: (device: string, label: string): Argv => ['mkfs.btrfs', ['-q', '-L', label, '--', device]],
  /** the filesystem type on a device ("btrfs"), empty when none */
  fsType: (device: string): Argv => ['blkid', ['-o', 'value', '-s', 'TYPE', '--', device]],
  /** who holds a mount point (psmisc; fuser takes no `--`) */
  holders: (mountpoint: string): Argv => ['fuser', ['-vm', operand(mountpoint)]],
};

/** The line setup adds: mounted by hand or by btrfs-vault only (noauto), with the compression. */
export function fstabLine(device: string, mountpoint: string, compression: CreateOptions['compression']): string {
  const opts = ['noauto', ...(compression === 'none' ? [] : [`compress=${compression}`])].join(',');
  return `${device} ${escapeFstabField(mountpoint)} btrfs ${opts} 0 0`;
}

/** The backup btrfs filesystem, mounted at target.mountpoint. */
export const filesystemLayer: LayerHandler & { mountOf(ctx: StackContext): Promise<MountEntry | undefined> } = {
  name: 'filesystem',
  // a plain disk's device is written in the config: the loader cannot derive it from layers = []
  configKeys: (t): Record<string, string> => (t.device ? { device: t.device } : {}),
  attached: plainDiskAttached,

  // a plain disk: the UUID of its partition, or of the filesystem mounted now
  async udevMatch(runner, target) {
    const onPartition = await partitionUdevMatch(runner, target);
    if (onPartition) return onPartition;
    const uuid = await firstLine(runner, ['findmnt', ['-no', 'UUID', '--mountpoint', target.mountpoint]]);
    return uuid ? { key: 'ID_FS_UUID', value: uuid } : undefined;
  },

  create(ctx, o) {
    const { mountpoint } = ctx.config.target;
    const device = filesystemDevice(ctx.config.target);
    if (!device) throw new InternalError('the backup filesystem is made on target.device, and there is none');
    return [
      ...(o.mode === 'reconnect'
        ? []
        : [
            {
              id: 'mkfs' as const,
              title: `Make the btrfs filesystem on ${device}`,
              commands: plainCommands(mountCommands.mkfs(device, `backup-${ctx.config.host}`)),
              done: async (c: StackContext) =>
                (await c.runner.query(mountCommands.fsType(device), { allowFailure: true })).stdout.trim() === 'btrfs',
            },
          ]),
      // done only if the line names this host's device; a line for another device is refused
      {
        id: 'fstab',
        title: `Add ${mountpoint} to /etc/fstab (noauto)`,
        commands: [],
        writes: [`${FSTAB}: ${fstabLine(device, mountpoint, o.compression)}`],
        done: async (c) => (await ownMountPoint(c)).fstab.some((l) => l.ours),
        finish: async (ctx) =>
          ctx.runner.change({ op: 'append', path: FSTAB, text: `${fstabLine(device, mountpoint, o.compression)}\n` }),
      },
      {
        id: 'mount',
        title: `Mount it at ${mountpoint}`,
        commands: plainCommands(mountCommands.mount(mountpoint)),
        // done only if what is mounted there is this host's device (by block device)
        done: async (c) => (await ownMountPoint(c)).mountedIsOurs,
        bringUp: async (c) => {
          await ownMountPoint(c); // nothing foreign there, before mounting over it
          return filesystemLayer.open(c);
        },
        // an fstab entry does not make its mount point
        prepare: async (c) => makeMountPoint(c),
      },
    ];
  },

  async mountOf(ctx) {
    const mp = ctx.config.target.mountpoint;
    const mounts = await ctx.mounts();
    return mounts.filter((m) => m.mountPoint === mp).at(-1);
  },

  async inspect(ctx): Promise<LayerState> {
    const m = await this.mountOf(ctx);
    const mp = ctx.config.target.mountpoint;
    if (!m) return { up: false, detail: `${mp} is not mounted` };
    return { up: m.fsType === 'btrfs', detail: `${m.source} on ${mp} (${m.fsType})` };
  },

  async open(ctx) {
    const mp = ctx.config.target.mountpoint;
    let m = await this.mountOf(ctx);
    if (m) {
      assertBtrfs(m, mp);
      return 'already-open';
    }
    const how = howToMount(ctx);
    if (how.device) {
      // udev makes the node shortly after the layer below opened; a dry-run opened nothing
      const present = ctx.runner.changesTakeEffect ? await waitForDevice(how.device) : await exists(how.device);
      // with an fstab entry, mount's own message says what is wrong
      if (!present && !how.fstab) {
        throw new TargetError(
          `the backup filesystem's device ${how.device} does not exist`,
          'plug in the backup disk (or check target.device), then run again',
        );
      }
    }
    await mount(ctx, how);
    if (!ctx.runner.changesTakeEffect) return 'opened'; // a dry-run mounted nothing to look at
    m = await this.mountOf(ctx);
    if (!m) throw new TargetError(`mount ${mp} succeeded but nothing is mounted there`, 'check the fstab entry');
    assertBtrfs(m, mp);
    return 'opened';
  },

  async close(ctx) {
    const mp = ctx.config.target.mountpoint;
    if (!(await this.mountOf(ctx))) return 'already-closed';
    const r = await ctx.runner.run(mountCommands.umount(mp), { allowFailure: true });
    if (r.exitCode !== 0) {
      if (/busy/i.test(r.stderr)) {
        // fuser -v writes its table to stderr
        const held = await ctx.runner.query(mountCommands.holders(mp), { allowFailure: true });
        const table = (held.stderr + held.stdout).trim();
        throw new TargetError(
          `${mp} is busy and was left mounted; these processes use it:\n${table || '(fuser found none; try: lsof +D ' + mp + ')'}`,
          `end them (or leave ${mp}), then run: btrfs-vault close`,
        );
      }
      throw new TargetError(`umount ${mp} failed: ${r.stderr.trim()}`, 'see the message above');
    }
    return 'closed';
  },

  async openOnPaper(ctx) {
    await mount(ctx, howToMount(ctx));
  },

  async closeOnPaper(ctx) {
    await ctx.runner.run(mountCommands.umount(ctx.config.target.mountpoint));
  },
};

interface HowToMount {
  /** by the fstab entry for the mount point (else from the device) */
  fstab: boolean;
  device?: string;
}

/** By the fstab entry when there is one (the user's options), else from target.device. */
function howToMount(ctx: StackContext): HowToMount {
  const mp = ctx.config.target.mountpoint;
  const device = filesystemDevice(ctx.config.target);
  const fstab = fstabEntriesFor(mp).length > 0;
  if (!fstab && !device) {
    throw new TargetError(
      `the backup filesystem is not mounted at ${mp}`,
      `mount the backup disk there (or add an fstab entry for ${mp}, or set target.device), then run again`,
    );
  }
  return { fstab, device };
}

/** an fstab entry does not make its mount point (and a power cut can lose a new one) */
function makeMountPoint(ctx: StackContext): void {
  const mp = ctx.config.target.mountpoint;
  if (existsSync(mp)) return;
  ctx.runner.change({ op: 'mkdir', path: mp, parents: true });
}

async function mount(ctx: StackContext, how: HowToMount): Promise<void> {
  makeMountPoint(ctx);
  const mp = ctx.config.target.mountpoint;
  await ctx.runner.run(how.fstab ? mountCommands.mount(mp) : mountCommands.mountDevice(how.device!, mp));
}

function assertBtrfs(m: MountEntry, mp: string): void {
  if (m.fsType !== 'btrfs') {
    throw new TargetError(
      `${mp} holds a ${m.fsType} filesystem (${m.source}), not btrfs`,
      `mount the btrfs backup filesystem at ${mp}, or set target.mountpoint to where it is`,
    );
  }
}

/** A plain disk (no layers): its device when the config names one, else the device its fstab line names. */
function plainDiskAttached(config: VaultConfig): boolean {
  const t = config.target;
  if (t.device !== undefined) return existsSync(t.device);
  const [line] = fstabEntriesFor(t.mountpoint);
  return line !== undefined && existsSync(fstabDevice(line.device));
}

/** UUID=…, LABEL=…, PARTUUID=…, PARTLABEL=… as the udev links that name them. */
function fstabDevice(spec: string): string {
  const m = /^(UUID|LABEL|PARTUUID|PARTLABEL)=(.+)$/.exec(spec);
  if (!m) return spec;
  return `/dev/disk/by-${m[1]!.toLowerCase()}/${m[2]!.replace(/^"|"$/g, '')}`;
}
