import type { RemoteTargetConfig, VaultConfig } from '../config/config.js';
import { UserError } from '../core/errors.js';
import { restoreFromRemote } from '../flows/remote/remote-restore.js';
import { restorePathFromRemote } from '../flows/remote/remote-path-restore.js';
import { filesLines } from '../flows/restore/files.js';
import { restoreVerb } from '../flows/restore/restore-verb.js';
import { jsonText } from '../ui/json-output.js';
import { diskToReadFrom } from '../flows/session/each-target.js';
import { outputMode } from '../ui/renderer.js';
import { loadFor, makeRunner } from './context.js';

export interface RestoreCommandOptions {
  config: string;
  target?: string;
  to?: string;
  path?: string;
  from?: string;
  overwrite?: boolean;
  before?: string;
  writable?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export async function restoreCommand(
  source: string | undefined,
  backup: string | undefined,
  opts: RestoreCommandOptions,
  signal: AbortSignal,
): Promise<number> {
  const config = await loadFor(opts);
  const remote = config.remotes?.find((r) => r.name === opts.target);
  if (remote) return restoreFromServer(config, remote, source, backup, opts, signal);
  const disk = diskToReadFrom(config, opts.target, source, {
    backup: backup ?? opts.from,
    before: opts.before,
  });
  if (disk.said) process.stderr.write(`${disk.said}\n`);
  return restoreVerb({
    config: disk.config,
    source,
    backup,
    to: opts.to,
    path: opts.path,
    from: opts.from,
    overwrite: Boolean(opts.overwrite),
    before: opts.before,
    writable: Boolean(opts.writable),
    runner: makeRunner(opts),
    mode: outputMode(opts),
    interactive: Boolean(process.stdin.isTTY),
    signal,
    print: (text) => process.stdout.write(text),
  });
}

/** restore --target SERVER: from a backup server; its flow checks the options as a disk's restore does. */
async function restoreFromServer(
  config: VaultConfig,
  remote: RemoteTargetConfig,
  source: string | undefined,
  backup: string | undefined,
  opts: RestoreCommandOptions,
  signal: AbortSignal,
): Promise<number> {
  if (source === undefined || opts.to === undefined)
    throw new UserError(
      `restore --target ${remote.name} (a backup server) needs SOURCE and --to DIR`,
      `btrfs-vault restore SOURCE [BACKUP] --target ${remote.name} --to DIR`,
    );
  if (opts.path !== undefined) {
    const files = await restorePathFromRemote({
      runner: makeRunner(opts),
      config,
      remote,
      source,
      backup,
      from: opts.from,
      path: opts.path,
      before: opts.before,
      writable: Boolean(opts.writable),
      overwrite: Boolean(opts.overwrite),
      json: opts.json,
      to: opts.to,
      mode: outputMode(opts),
      signal,
    });
    process.stdout.write(opts.json ? jsonText(files) : `${filesLines(files).join('\n')}\n`);
    return files.exitCode;
  }
  const report = await restoreFromRemote({
    runner: makeRunner(opts),
    config,
    remote,
    source,
    backup,
    before: opts.before,
    writable: Boolean(opts.writable),
    from: opts.from,
    path: opts.path,
    overwrite: Boolean(opts.overwrite),
    json: opts.json,
    to: opts.to,
    mode: outputMode(opts),
    signal,
  });
  if (opts.json) process.stdout.write(jsonText(report));
  else if (report.ok)
    process.stdout.write(
      `restored ${report.backup} from ${remote.name} as ${report.restored}${report.writable ? `, and a writable copy ${report.writable}` : ''}\n`,
    );
  else process.stderr.write(`✖ ${report.error}${report.fix ? `\nfix: ${report.fix}` : ''}\n`);
  return report.exitCode;
}
