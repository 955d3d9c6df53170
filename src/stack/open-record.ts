import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readFileNoFollow } from '../system/no-follow.js';
import type { Runner } from '../system/runner.js';

// What a run opened of the disk stack and means to close again, kept in /run (gone
// after a reboot, when nothing is open anyway). A run killed before it closed leaves
// this behind; the next run, holding the target's lock, knows the killer is dead and
// closes those layers as if it had opened them itself.

export const OPEN_RECORD_DIR = '/run/btrfs-vault';

export interface OpenRecord {
  /** the lowest layer that run opened: it and everything above came up with it */
  from: string;
  pid: number;
}

function recordFile(mountpoint: string, dir: string): string {
  return join(dir, `opened-${createHash('sha256').update(mountpoint).digest('hex').slice(0, 24)}.json`);
}

export function readOpenRecord(mountpoint: string, dir = OPEN_RECORD_DIR): OpenRecord | undefined {
  const text = readFileNoFollow(recordFile(mountpoint, dir));
  try {
    const r = text === undefined ? undefined : (JSON.parse(text) as Partial<OpenRecord>);
    return typeof r?.from === 'string' ? { from: r.from, pid: Number(r.pid) } : undefined;
  } catch {
    return undefined;
  }
}

export function writeOpenRecord(runner: Runner, mountpoint: string, record: OpenRecord, dir = OPEN_RECORD_DIR): void {
  runner.change({
    op: 'write',
    path: recordFile(mountpoint, dir),
    text: `${JSON.stringify(record)}\n`,
    folder: 0o700,
    about: `opened from ${record.from}`,
  });
}

/** The stack is closed, or someone (open, -b) decided to keep it open: no run owes a close. */
export function clearOpenRecord(runner: Runner, mountpoint: string, dir = OPEN_RECORD_DIR): void {
  runner.change({ op: 'remove', path: recordFile(mountpoint, dir) });
}
