import type { NotifyEvent, VaultConfig } from '../../config/config.js';
import { CommandFailedError, errorMessage } from '../../core/errors.js';
import { fetchFailure, urlForLog } from '../../core/secret-url.js';
import type { Runner } from '../../system/runner.js';

/** what is read of the command's output, per stream */
const OUTPUT_LIMIT = 64 * 1024;
/** what a failure line shows of it */
const LOG_LINES = 5;
const LOG_LINE_CHARS = 300;

/**
 * Tells someone: the configured command gets the report as JSON on stdin (and
 * BTRFS_VAULT_* variables), the URL gets it POSTed (healthchecks-style: <url> on
 * success, <url>/fail otherwise). Only for the events in `notify.on`. A failure to
 * notify is returned as a line for the log; it never changes the run's outcome.
 * The URL is a secret: a line names only its scheme and host. The command runs for at
 * most notify.timeout seconds, in a process group of its own that is ended after that.
 */
export async function notify(
  runner: Runner,
  config: Pick<VaultConfig, 'file' | 'host' | 'notify'>,
  event: NotifyEvent,
  report: { exitCode: number } & Record<string, unknown>,
): Promise<string[]> {
  const n = config.notify;
  // a dry-run tells nobody, and prints no notification either (its command or URL may hold a secret)
  if (!n || !n.on.includes(event) || !runner.changesTakeEffect) return [];
  const body = JSON.stringify({ event, host: config.host, config: config.file, ...report });
  const problems: string[] = [];
  if (n.command) {
    const env = {
      BTRFS_VAULT_EVENT: event,
      BTRFS_VAULT_HOST: config.host,
      BTRFS_VAULT_CONFIG: config.file,
      BTRFS_VAULT_EXIT_CODE: String(report.exitCode),
    };
    const r = await runner
      .run([n.command[0]!, n.command.slice(1)], {
        input: body,
        env,
        allowFailure: true,
        timeoutMs: n.timeoutSeconds * 1000,
        outputLimit: OUTPUT_LIMIT,
      })
      // (not started at all: what the program runner said, without the command line)
      .catch((err: unknown) => ({
        exitCode: -1,
        stderr: err instanceof CommandFailedError ? err.stderr : errorMessage(err),
        timedOut: false,
        outputCut: 0,
      }));
    // its arguments may carry what its author considers private: the program is named, not its argv
    const what = `notify.command ${n.command[0]}`;
    if (r.timedOut)
      problems.push(
        `${what} was still running after ${n.timeoutSeconds} s (notify.timeout): it and its children were ended${logTail(r.stderr, r.outputCut)}`,
      );
    else if (r.exitCode !== 0) problems.push(`${what} failed (exit ${r.exitCode})${logTail(r.stderr, r.outputCut)}`);
  }
  if (n.url) {
    const url = event === 'success' ? n.url : failUrl(n.url);
    const shown = urlForLog(n.url);
    try {
      const res = await fetch(url, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) problems.push(`notify.url ${shown} answered ${res.status} ${res.statusText}`);
    } catch (err) {
      problems.push(`notify.url ${shown} could not be reached: ${fetchFailure(err, url)}`);
    }
  }
  return problems;
}

/** The last few lines of what the command said, each cut short: a log line, not its output. */
function logTail(stderr: string | undefined, cut = 0): string {
  const lines = (stderr ?? '')
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '');
  if (lines.length === 0) return '';
  const shown = lines
    .slice(-LOG_LINES)
    .map((l) =>
      l.length > LOG_LINE_CHARS ? `${l.slice(0, LOG_LINE_CHARS)}… (${l.length - LOG_LINE_CHARS} more characters)` : l,
    );
  const more = lines.length - shown.length;
  const before =
    more > 0 || cut > 0
      ? `(${more > 0 ? `${more} earlier lines` : ''}${more > 0 && cut > 0 ? ' and ' : ''}${cut > 0 ? `${cut} earlier bytes of its output` : ''} not shown)\n  `
      : '';
  return `:\n  ${before}${shown.join('\n  ')}`;
}

/** healthchecks-style: /fail after the path, before a query (`…/<uuid>/fail?rid=…`). */
function failUrl(url: string): string {
  try {
    const u = new URL(url);
    u.pathname = `${u.pathname.replace(/\/+$/, '')}/fail`;
    return u.href;
  } catch {
    return `${url.replace(/\/+$/, '')}/fail`;
  }
}
