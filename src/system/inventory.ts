import { readdir, realpath } from 'node:fs/promises';
import { LSBLK_COLUMNS, parseLsblk, type BlockDevice } from '../core/eligibility.js';
import type { Runner } from './runner.js';

export async function blockDevices(runner: Runner): Promise<BlockDevice[]> {
  const { stdout } = await runner.query(['lsblk', ['-J', '-b', '-o', LSBLK_COLUMNS]]);
  return parseLsblk(stdout);
}

/** /dev/sdX -> its most descriptive /dev/disk/by-id name (not wwn-, not a partition). */
export async function byIdNames(): Promise<Record<string, string>> {
  const dir = '/dev/disk/by-id';
  const out: Record<string, string> = {};
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    if (n.startsWith('wwn-') || /-part\d+$/.test(n)) continue;
    try {
      const dev = await realpath(`${dir}/${n}`);
      out[dev] ??= `${dir}/${n}`;
    } catch {
      /* a dangling link */
    }
  }
  return out;
}
