import { readFileSync } from 'node:fs';
import { parseMountinfo, type MountEntry } from '../core/mountinfo.js';

export async function readMounts(): Promise<MountEntry[]> {
  return readMountsSync();
}

export function readMountsSync(): MountEntry[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}
