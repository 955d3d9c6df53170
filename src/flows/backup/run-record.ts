import type { HostRecord, TargetRecord } from '../../system/host-record.js';
import type { BackupReport } from './backup.js';

// What the host's record keeps of a backup run to one target, disk or server alike (for
// status with the target away, and each target's pins): the target's part, each source's
// last success or failure, and the run's outcome.

/** The target's part: when it was seen, its last backup, and per source the newest snapshot it holds. */
export function rememberTarget(
  record: HostRecord,
  name: string,
  report: BackupReport,
  seen: boolean,
  now: string,
): void {
  const t: TargetRecord = { ...record.targets?.[name] };
  if (seen) t.seen = now;
  const ok = report.sources.filter((r) => r.status === 'ok' && r.snapshot !== undefined && !report.dryRun);
  // a source unchanged since the copy the target holds is backed up all the same
  if (ok.length > 0) t.lastBackup = now;
  t.pins = { ...t.pins };
  for (const r of ok) t.pins[r.name] = { snapshot: r.snapshot!, uuid: r.snapshotUuid };
  record.targets = { ...record.targets, [name]: t };
}

/**
 * Each source's last success or failure, and the run's outcome: with several targets in
 * one run (since `runStarted`), a failure recorded for an earlier target is not
 * overwritten by a later target's success.
 */
export function rememberSources(record: HostRecord, report: BackupReport, now: string, runStarted?: Date): void {
  const earlier =
    runStarted && record.lastRun && Date.parse(record.lastRun.at) >= runStarted.getTime() ? record.lastRun.exitCode : 0;
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
}
