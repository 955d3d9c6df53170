import { runBackup, summaryLines } from '../flows/backup.js';
import { notify } from '../flows/notify.js';
import { collectStatus } from '../flows/status.js';
import { targetAttached } from '../stack/presence.js';
import { readHostRecord, writeHostRecord } from '../system/host-record.js';
import { readMountsSync } from '../system/mounts.js';
import type { Runner } from '../system/runner.js';
import type { VaultConfig } from '../config/config.js';
import { outputMode } from '../ui/renderer.js';
import { loadFor, makeRunner, pickSources } from './context.js';

export interface BackupCommandOptions {
  config: string;
  keepOpen?: boolean;
  sourcesFile?: boolean;
  dryRun?: boolean;
  json?: boolean;
  force?: boolean;
  /** run by the timer: an absent disk is a soft skip; stale backups are notified */
  scheduled?: boolean;
  /** run when the disk was plugged in: as scheduled, and says when it may be unplugged */
  onPlug?: boolean;
}

export async function backupCommand(paths: string[], opts: BackupCommandOptions, signal: AbortSignal): Promise<number> {
  const config = await loadFor(opts);
  const sources = pickSources(config, paths, Boolean(opts.sourcesFile));
  const mode = outputMode(opts);
  const runner = makeRunner(opts);
  const unattended = Boolean(opts.scheduled || opts.onPlug);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (unattended && !targetAttached(config, readMountsSync())) {
    log(`the backup disk for ${config.target.mountpoint} is not attached: nothing to do now (status warns when backups get old)`);
    for (const p of await staleNotice(runner, config)) log(`! ${p}`);
    return 0;
  }
  const report = await runBackup({ config, sources, runner, mode, keepOpen: Boolean(opts.keepOpen), closeIdleBelow: unattended, force: Boolean(opts.force), signal });
  if (mode.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else for (const line of summaryLines(report)) log(line);
  for (const p of await notify(runner, config, report.ok ? 'success' : 'failure', { ...report })) log(`! ${p}`);
  if (unattended) for (const p of await staleNotice(runner, config)) log(`! ${p}`);
  if (opts.onPlug && report.ok && !opts.keepOpen) log(report.leftRunning ? `the backup disk is not closed: ${report.leftRunning}; unplug it once that is done` : `the backup disk is closed: you may unplug it`);
  return report.exitCode;
}

/** Stale backups (or a disk not seen for long) are told at most once a day. */
async function staleNotice(runner: Runner, config: VaultConfig): Promise<string[]> {
  // a dry-run sends nothing (notify), so it has nothing to remember
  if (!config.notify?.on.includes('stale') || !runner.changesTakeEffect) return [];
  const status = await collectStatus(runner, config);
  const stale = status.warnings.filter((w) => ['stale-backup', 'no-backup', 'target-not-seen'].includes(w.code));
  if (stale.length === 0) return [];
  const record = readHostRecord(config.file);
  if (record.lastStaleNotice && Date.now() - Date.parse(record.lastStaleNotice) < 86_400_000) return [];
  const problems = await notify(runner, config, 'stale', { exitCode: 0, warnings: stale });
  record.lastStaleNotice = new Date().toISOString();
  writeHostRecord(runner, record);
  return problems;
}
