import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from '../system/runner.js';
import { readFileNoFollow } from '../system/no-follow.js';

// The proof that btrfs-vault made a subvolume in a backup folder: before a receive
// starts, its name and the run are recorded beside it (durably). Only a recorded
// receive that is still incomplete is ever deleted; any other subvolume without a
// received UUID (a user's writable snapshot, a backup once made writable) is not ours
// to judge and is left alone.

export const RECEIVE_RECORD = '.btrfs-vault-receiving';

export interface ReceiveRecord {
  /** the subvolume being received, a name inside the folder */
  name: string;
  /** which run started it: host, pid, start time */
  run: string;
  started: string;
  /** the boot it was received in, and whether the filesystem was synced after */
  boot?: string;
  synced?: boolean;
}

/** This boot's id: a record from another boot whose copy was never synced may hold unwritten data. */
export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export function readReceiveRecord(dir: string): ReceiveRecord | undefined {
  const text = readFileNoFollow(join(dir, RECEIVE_RECORD));
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as Partial<ReceiveRecord>;
    // a name with a slash could point out of the folder: such a record is not ours
    if (typeof r.name === 'string' && r.name !== '' && !r.name.includes('/') && r.name !== '.' && r.name !== '..') {
      return {
        name: r.name,
        run: String(r.run ?? '?'),
        started: String(r.started ?? '?'),
        boot: typeof r.boot === 'string' ? r.boot : undefined,
        synced: r.synced === true,
      };
    }
  } catch {
    /* torn or foreign: treated as no record */
  }
  return undefined;
}

export function writeReceiveRecord(runner: Runner, dir: string, record: ReceiveRecord): void {
  const about = `receiving ${record.name}${record.synced ? ', synced' : ''}`;
  runner.change({
    op: 'write',
    path: join(dir, RECEIVE_RECORD),
    text: `${JSON.stringify(record)}\n`,
    durable: true,
    about,
  });
}

export function clearReceiveRecord(runner: Runner, dir: string): void {
  runner.change({ op: 'remove', path: join(dir, RECEIVE_RECORD) });
}
