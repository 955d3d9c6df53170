import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from '../../system/runner.js';

// What serve received, a JSON line per backup put in place, in the root
// (`.btrfs-vault-received`): when the server took it (its own clock, never the client's
// name for it), for status; and the proof that a backup is one serve made.

export const RECEIVED_RECORD = '.btrfs-vault-received';

export interface ReceivedEntry {
  folder: string;
  name: string;
  /** the server copy's own UUID */
  uuid: string;
  receivedUuid: string;
  /** when it was put in place (ISO 8601, UTC) */
  at: string;
}

export function recordReceived(runner: Runner, root: string, entry: ReceivedEntry): void {
  runner.change({ op: 'append', path: join(root, RECEIVED_RECORD), text: `${JSON.stringify(entry)}\n` });
}

/** The record, by the copy's own UUID (a line that does not parse is skipped). */
export function readReceived(root: string): Map<string, ReceivedEntry> {
  let text = '';
  try {
    text = readFileSync(join(root, RECEIVED_RECORD), 'utf8');
  } catch {
    return new Map();
  }
  const byUuid = new Map<string, ReceivedEntry>();
  for (const line of text.split('\n')) {
    try {
      const e = JSON.parse(line) as ReceivedEntry;
      if (typeof e.uuid === 'string' && typeof e.at === 'string') byUuid.set(e.uuid, e);
    } catch {
      /* an empty or torn line */
    }
  }
  return byUuid;
}
