import { readFile } from 'node:fs/promises';
import { parseMountinfo, type MountEntry } from '../core/mountinfo.js';

export async function readMounts(): Promise<MountEntry[]> {
  return parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
}
