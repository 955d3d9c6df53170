import type { VaultConfig } from '../../config/config.js';
import { updateHostRecord } from '../../system/host-record.js';
import type { Runner } from '../../system/runner.js';
import type { BackupReport } from '../backup/backup.js';
import { rememberSources, rememberTarget } from '../backup/run-record.js';

/**
 * The host's record of a run to a server, as of a disk's: when it was reached (its
 * "seen"), its last backup, and per source the newest snapshot it holds (its pin), so
 * status answers without the network and the next run stays incremental.
 */
export async function recordRemoteRun(
  runner: Runner,
  config: VaultConfig,
  name: string,
  report: BackupReport,
  reached: boolean,
  /** when the whole run began: a disk's outcome recorded since then is this run's too */
  runStarted: Date,
): Promise<void> {
  await updateHostRecord(runner, config.file, (record) => {
    const now = new Date().toISOString();
    rememberTarget(record, name, report, reached, now);
    rememberSources(record, report, now, runStarted);
  });
}
