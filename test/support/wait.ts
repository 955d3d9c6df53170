import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { sh } from './sh.js';

/** Polls `probe` (every 20 ms, without blocking the event loop) until it gives a truthy value, which it returns. */
export async function waitFor<T>(probe: () => T | undefined | false, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

// A limit, not a wait (it costs nothing when the link comes): udev on a one-vCPU guest
// beside another boot is slow, and a limit reached fails the whole VM scenario
const UDEV_LIMIT_MS = 60_000;

/** Blocks until the device node `path` exists, letting udev settle between looks (it makes the links). */
export function waitForDevice(path: string, ms = UDEV_LIMIT_MS): void {
  const end = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > end) throw new Error(`${path} did not appear`);
    sh('udevadm', ['settle']);
    spawnSync('sleep', ['0.1']);
  }
}

/** Blocks until `path` is gone, letting udev settle between looks (it removes the links). */
export function waitForGone(path: string, ms = UDEV_LIMIT_MS): void {
  const end = Date.now() + ms;
  while (existsSync(path)) {
    if (Date.now() > end) throw new Error(`${path} is still there`);
    sh('udevadm', ['settle']);
    spawnSync('sleep', ['0.1']);
  }
}
