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

export function logArgv(entry: ServeLogEntry): Argv {
  const socket = testLogSocket();
  return [
    'logger',
    [
      '-t',
      LOG_TAG,
      '-p',
      entry.outcome === 'received' ? 'auth.info' : 'auth.warning',
      ...(socket ? ['--socket', socket] : []),
      '--',
      JSON.stringify(entry),
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
