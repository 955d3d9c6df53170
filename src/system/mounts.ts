import { readFileSync } from 'node:fs';
import { parseMountinfo, type MountEntry } from '../core/mountinfo.js';

export async function readMounts(): Promise<MountEntry[]> {
  return readMountsSync();
}

// A run reads the mount table again before each source (someone may have unmounted
// something meanwhile); it is read each time, but parsed only when it changed.
let last: { text: string; entries: readonly MountEntry[] } | undefined;

export function readMountsSync(): MountEntry[] {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  if (last?.text !== text) last = { text, entries: parseMountinfo(text).map((e) => Object.freeze(e)) };
  return [...last.entries];
}
