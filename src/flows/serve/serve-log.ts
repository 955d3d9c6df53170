import type { Argv, Runner } from '../../system/runner.js';
import { testLogSocket } from './serve-test-hooks.js';

// What serve refused or failed, in the system log (tag btrfs-vault-serve): the client's
// line and the reason as one JSON object, so a newline or an escape sequence of the
// client's stays inside a JSON string and cannot forge a log line of its own.

export const LOG_TAG = 'btrfs-vault-serve';

export interface ServeLogEntry {
  /** refused: the client's input (exit 2, 3); failed: the server (exit 1) */
  outcome: 'refused' | 'failed' | 'received';
  root: string;
  /** SSH_ORIGINAL_COMMAND as it came, or null without one */
  line: string | null;
  reason?: string;
  exitCode?: number;
}

/** bytes of one log entry at most (rsyslog's default limit is 8 KiB) */
const MAX_ENTRY = 4096;
/** what of the client's line and of the reason is logged: escaped, an entry stays under MAX_ENTRY */
const LINE_CHARS = 256;
const REASON_CHARS = 512;

/** The entry as logged: the client's line and the reason cut to a size that keeps the JSON whole. */
export function logText(entry: ServeLogEntry): string {
  return JSON.stringify({
    ...entry,
    line: entry.line === null ? null : entry.line.slice(0, LINE_CHARS),
    ...(entry.reason === undefined ? {} : { reason: entry.reason.slice(0, REASON_CHARS) }),
    ...(entry.line !== null && entry.line.length > LINE_CHARS ? { lineLength: entry.line.length } : {}),
  });
}

export function logArgv(entry: ServeLogEntry): Argv {
  const socket = testLogSocket();
  return [
    'logger',
    [
      '-t',
      LOG_TAG,
      '-p',
      entry.outcome === 'received' ? 'auth.info' : 'auth.warning',
      // logger cuts a message at 1 KiB by default: an entry cut short is no JSON
      '--size',
      String(MAX_ENTRY),
      ...(socket ? ['--socket', socket] : []),
      '--',
      logText(entry),
    ],
  ];
}

/** A log that cannot be written changes nothing of the answer (a host without syslog). */
export async function serveLog(runner: Runner, entry: ServeLogEntry): Promise<void> {
  try {
    await runner.run(logArgv(entry), { allowFailure: true });
  } catch {
    /* logger missing: nothing else to tell it to */
  }
}
