import { readFile } from 'node:fs/promises';
import { TargetError } from '../core/errors.js';
import type { MountEntry } from '../core/mountinfo.js';
import type { Argv } from '../system/runner.js';
import type { LayerHandler, LayerState, StackContext } from './layer.js';

export const mountCommands = {
  mount: (mountpoint: string): Argv => ['mount', [mountpoint]],
  umount: (mountpoint: string): Argv => ['umount', [mountpoint]],
};

/** The backup btrfs filesystem, mounted at target.mountpoint. */
export const filesystemLayer: LayerHandler & { mountOf(ctx: StackContext): Promise<MountEntry | undefined> } = {
  name: 'filesystem',

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
    if (!m) {
      if (!(await hasFstabEntry(mp))) {
        throw new TargetError(
          `the backup filesystem is not mounted at ${mp}`,
          `mount the backup disk there (or add an fstab entry for ${mp}), then run again`,
        );
      }
      await ctx.runner.run(mountCommands.mount(mp));
      if (ctx.runner.dryRun) return 'opened';
      m = await this.mountOf(ctx);
      if (!m) throw new TargetError(`mount ${mp} succeeded but nothing is mounted there`, 'check the fstab entry');
      assertBtrfs(m, mp);
      return 'opened';
    }
    assertBtrfs(m, mp);
    return 'already-open';
  },

  async close(ctx) {
    if (!(await this.mountOf(ctx))) return 'already-closed';
    await ctx.runner.run(mountCommands.umount(ctx.config.target.mountpoint));
    return 'closed';
  },
};

function assertBtrfs(m: MountEntry, mp: string): void {
  if (m.fsType !== 'btrfs') {
    throw new TargetError(
      `${mp} holds a ${m.fsType} filesystem (${m.source}), not btrfs`,
      `mount the btrfs backup filesystem at ${mp}, or set target.mountpoint to where it is`,
    );
  }
}

async function hasFstabEntry(mountpoint: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile('/etc/fstab', 'utf8');
  } catch {
    return false;
  }
  return text.split('\n').some((line) => {
    const f = line.replace(/#.*/, '').trim().split(/\s+/);
    return f.length >= 2 && f[1]!.replace(/\\040/g, ' ') === mountpoint;
  });
}
