import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './sh.js';

// Host-tier tests touch only loop devices they created themselves, backed by sparse
// files in a temporary folder. Every destructive command goes through `guarded`,
// which refuses anything that is not such a device (the machine's /dev/vda above all).

const created = new Map<string, string>(); // device -> backing file

export function assertOwnLoop(device: string): void {
  const m = /^\/dev\/loop(\d+)$/.exec(device);
  if (!m) throw new Error(`test harness guard: refusing ${device}: not a loop device`);
  const file = created.get(device);
  if (!file) throw new Error(`test harness guard: refusing ${device}: not created by this test run`);
  const backing = readFileSync(`/sys/block/loop${m[1]}/loop/backing_file`, 'utf8').trim();
  if (backing !== file) throw new Error(`test harness guard: refusing ${device}: backed by ${backing}, not ${file}`);
}

export interface LoopFs {
  device: string;
  file: string;
  mountPoint: string;
  dispose(): void;
}

/** A fresh btrfs filesystem on a loop device over a sparse file, mounted under `dir`. */
export function makeLoopBtrfs(dir: string, name: string, sizeMiB = 1024): LoopFs {
  const file = join(dir, `${name}.img`);
  sh('truncate', ['-s', `${sizeMiB}M`, file]);
  const device = sh('losetup', ['--find', '--show', file]).trim();
  created.set(device, file);
  assertOwnLoop(device);
  sh('mkfs.btrfs', ['-q', '-f', device]);
  const mountPoint = join(dir, name);
  mkdirSync(mountPoint, { recursive: true });
  sh('mount', [device, mountPoint]);
  return {
    device,
    file,
    mountPoint,
    dispose() {
      try {
        sh('umount', ['-R', mountPoint]);
      } catch {
        /* not mounted */
      }
      assertOwnLoop(device);
      sh('losetup', ['-d', device]);
      created.delete(device);
      rmSync(file, { force: true });
    },
  };
}

/** Tests of this tier need root and btrfs tools; in CI their absence is a failure, never a skip. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error('host-tier tests must run as root (they create loop devices); run: sudo npm test');
  for (const tool of ['btrfs', 'mkfs.btrfs', 'losetup']) {
    try {
      sh('which', [tool]);
    } catch {
      throw new Error(`host-tier tests need ${tool}: apt-get install btrfs-progs util-linux`);
    }
  }
}
