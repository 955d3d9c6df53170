import { readFileSync } from 'node:fs';
import type { MountEntry } from '../core/mountinfo.js';
import type { Runner } from '../system/runner.js';
import { btrfs } from './commands.js';

let supported: Promise<boolean> | undefined;

/** The kernel speaks send protocol 2 and btrfs-progs knows --compressed-data (asked once a run). */
export function compressedSendSupported(runner: Runner): Promise<boolean> {
  supported ??= (async () => {
    const kernel = Number(readOr('/sys/fs/btrfs/features/send_stream_version').trim() || '1');
    if (kernel < 2) return false;
    const help = await runner.query(btrfs.sendHelp(), { allowFailure: true });
    return /--compressed-data/.test(help.stdout + help.stderr);
  })();
  return supported;
}

/** A backup filesystem mounted with compression keeps compressed extents as they come. */
export function compressedTarget(mount: MountEntry): boolean {
  return mount.options.split(',').some((o) => o.startsWith('compress'));
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
