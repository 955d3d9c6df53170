import type { NotifyEvent, VaultConfig } from '../config/config.js';
import { errorMessage } from '../core/errors.js';
import type { Runner } from '../system/runner.js';

/**
 * Tells someone: the configured command gets the report as JSON on stdin (and
 * BTRFS_VAULT_* variables), the URL gets it POSTed (healthchecks-style: <url> on
 * success, <url>/fail otherwise). Only for the events in `notify.on`. A failure to
 * notify is returned as a line for the log; it never changes the run's outcome.
 */
export async function notify(runner: Runner, config: VaultConfig, event: NotifyEvent, report: { exitCode: number } & Record<string, unknown>): Promise<string[]> {
  const n = config.notify;
  if (!n || !n.on.includes(event) || runner.dryRun) return [];
  const body = JSON.stringify({ event, host: config.host, config: config.file, ...report });
  const problems: string[] = [];
  if (n.command) {
    const env = { BTRFS_VAULT_EVENT: event, BTRFS_VAULT_HOST: config.host, BTRFS_VAULT_CONFIG: config.file, BTRFS_VAULT_EXIT_CODE: String(report.exitCode) };
    const r = await runner.run([n.command[0]!, n.command.slice(1)], { input: body, env, allowFailure: true }).catch((err: unknown) => ({ exitCode: -1, stderr: errorMessage(err) }));
    if (r.exitCode !== 0) problems.push(`notify.command ${n.command.join(' ')} failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  }
  if (n.url) {
    const url = event === 'success' ? n.url : `${n.url.replace(/\/+$/, '')}/fail`;
    try {
      const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10_000) });
      if (!res.ok) problems.push(`notify.url ${url} answered ${res.status} ${res.statusText}`);
    } catch (err) {
      problems.push(`notify.url ${url} could not be reached: ${errorMessage(err)}`);
    }
  }
  return problems;
}
