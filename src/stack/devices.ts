import { deviceWaitMs } from '../system/wait-test-hooks.js';
import { access, realpath } from 'node:fs/promises';

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** udev creates device nodes shortly after the layer below comes up: wait for it (10 s unless told). */
export async function waitForDevice(path: string, ms = deviceWaitMs(10_000)): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await exists(path)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return exists(path);
}

/** /dev/md/backup -> md127 */
export async function kernelName(path: string): Promise<string | undefined> {
  try {
    return (await realpath(path)).replace(/^\/dev\//, '');
  } catch {
    return undefined;
  }
}
