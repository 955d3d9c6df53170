import type { VaultConfig } from '../../config/config.js';
import { readHostRecord, writeHostRecord, type TargetRecord } from '../../system/host-record.js';
import type { Runner } from '../../system/runner.js';
import type { BackupReport } from '../backup/backup.js';

/**
 * The host's record of a run to a server, as of a disk's: when it was reached (its
 * "seen"), its last backup, and per source the newest snapshot it holds (its pin), so
 * status answers without the network and the next run stays incremental.
 */
export function recordRemoteRun(
  runner: Runner,
  config: VaultConfig,
  name: string,
  report: BackupReport,
  reached: boolean,
  /** when the whole run began: a disk's outcome recorded since then is this run's too */
  runStarted: Date,
): void {
  const record = readHostRecord(config.file);
  const now = new Date().toISOString();
  const t: TargetRecord = { ...record.targets?.[name] };
  if (reached) t.seen = now;
  const ok = report.sources.filter((r) => r.status === 'ok' && r.snapshot !== undefined && !report.dryRun);
  // as a disk's: a source unchanged since the copy the server holds is backed up all the same
  if (ok.length > 0) t.lastBackup = now;
  t.pins = { ...t.pins };
  for (const r of ok) t.pins[r.name] = { snapshot: r.snapshot!, uuid: r.snapshotUuid };
  record.targets = { ...record.targets, [name]: t };
  // the run's outcome: a disk's failure earlier in this run is not overwritten by this success
  const earlier = record.lastRun && Date.parse(record.lastRun.at) >= runStarted.getTime() ? record.lastRun.exitCode : 0;
  record.lastRun = { at: now, exitCode: report.exitCode !== 0 ? report.exitCode : earlier };
  for (const r of report.sources) {
    const prev = record.sources[r.name] ?? { path: r.source };
    if (r.status === 'ok')
      record.sources[r.name] = {
        ...prev,
        path: r.source,
        lastSuccess: now,
        snapshot: r.snapshot,
        mode: r.mode,
        bytes: r.bytes,
        seconds: r.seconds,
      };
    else if (r.status === 'failed')
      record.sources[r.name] = { ...prev, path: r.source, lastFailure: now, lastError: r.error };
  }
  writeHostRecord(runner, record);
}
