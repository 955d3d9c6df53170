import type { RemoteTargetConfig, SourceConfig, VaultConfig } from '../../config/config.js';
import { errorMessage, ExitCode, UserError, VaultError } from '../../core/errors.js';
import { MAX_LINE_BYTES, isServeName, verbLine } from '../../core/serve-verbs.js';
import type { Runner } from '../../system/runner.js';
import { filesReport, pathInSource, type FilesReport, type FileVersion } from '../restore/files.js';
import { restoreSource } from '../session/source-pick.js';
import { ServeClient } from './serve-client.js';
import { destination } from './ssh.js';

// files SOURCE PATH --target SERVER: the server looks PATH up in each complete backup of
// the source's folder (serve's `files` verb, no symlink followed); the answer is shown
// as the disk's `files` shows its own, marking where the entry changed.

export interface RemoteFilesReport extends FilesReport {
  target: string;
}

export async function filesFromRemote(input: {
  runner: Runner;
  config: VaultConfig;
  remote: RemoteTargetConfig;
  source: string;
  path: string;
  controlDir?: string;
}): Promise<RemoteFilesReport> {
  const { runner, remote } = input;
  const source = restoreSource(input.config, input.source);
  const rel = askablePath(remote, source, input.path);
  const report: RemoteFilesReport = {
    ...filesReport(runner, source, rel),
    target: `ssh://${destination(remote)}:${remote.port}`,
  };
  const client = new ServeClient(runner, remote, input.controlDir);
  let reached = false;
  try {
    await client.hello();
    reached = true;
    report.versions = versionsOf(await client.files(source.name, rel));
    report.ok = true;
    report.status = 'ok';
  } catch (err) {
    report.error = errorMessage(err);
    report.fix = err instanceof VaultError ? err.fix : undefined;
    report.exitCode = err instanceof VaultError ? err.exitCode : ExitCode.failed;
    report.status = 'failed';
  } finally {
    if (reached) await client.close();
  }
  return report;
}

/** PATH inside the source, refused when its verb line would be too long to ask */
export function askablePath(remote: RemoteTargetConfig, source: SourceConfig, path: string): string {
  if (!isServeName(source.name))
    throw new UserError(
      `${JSON.stringify(source.name)} cannot be a folder on a backup server`,
      'name the source as it was backed up (btrfs-vault list --target NAME)',
    );
  const rel = pathInSource(source, path);
  if (verbLine({ verb: 'files', folder: source.name, path: rel }).length > MAX_LINE_BYTES)
    throw new UserError(
      `the path ${JSON.stringify(rel)} is too long to ask a backup server for (its verb line is at most ${MAX_LINE_BYTES} bytes)`,
      `restore the whole backup (btrfs-vault restore SOURCE --target ${remote.name} --to DIR) and look there`,
    );
  return rel;
}

/** changed: as the disk's files marks it (size, time or mode differ from the backup before, or none before) */
export function versionsOf(
  entries: { backup: string; type: FileVersion['type']; size: number; mtime: string; mode: number }[],
): FileVersion[] {
  return entries.map((e, i) => {
    const prev = entries[i - 1];
    const changed = !prev || prev.size !== e.size || prev.mtime !== e.mtime || prev.mode !== e.mode;
    return { backup: e.backup, type: e.type, size: e.size, mtime: e.mtime, changed };
  });
}
