import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { RemoteTargetConfig, VaultConfig } from '../../config/config.js';
import { escapeName } from '../../core/byte-names.js';
import { errorMessage, ExitCode, TargetError, UserError, VaultError } from '../../core/errors.js';
import type { Runner } from '../../system/runner.js';
import { formatBytes, formatDuration } from '../../ui/format.js';
import { runTasks, type OutputMode, type Task } from '../../ui/renderer.js';
import { copyBack } from '../restore/copy-back.js';
import { restorePathLock } from '../restore/restore.js';
import { acquireLocks, type Lock } from '../../system/lock.js';
import { filesReport, statInside } from '../restore/files.js';
import { checkRestoreOptions } from '../restore/restore-mode.js';
import { askablePath, versionsOf, type RemoteFilesReport } from './remote-files.js';
import { makeStaging, receiveStaged, removeStaging } from './remote-restore.js';
import { ServeClient, type RemoteBackup } from './serve-client.js';
import { subvolumeInfo } from '../../btrfs/subvolume-info.js';
import { lexists } from '../../system/no-follow.js';
import { destination } from './ssh.js';
import { restoreSource } from '../session/source-pick.js';

// restore SOURCE [BACKUP] --path P --to DEST --target SERVER: the backup that holds P
// (named, or the newest that does, from the server's `files` answer) is received whole
// into a staging subvolume of ours in snapshot_dir (btrfs, root's), P is copied out with
// the disk's copy-back (same refusals: --overwrite, a symlink on the way, …), and the
// staging is deleted, also when the copy fails or on Ctrl-C; one a killed run left
// (its process gone) is deleted by the next.

const STAGING_RE = /^\.btrfs-vault-path-restore\.(\d+)$/;

export interface RemotePathRestoreReport extends RemoteFilesReport {
  /** the backup the stream was incremental from (its data a snapshot here), else full */
  parent?: string;
  bytes?: number;
  seconds?: number;
}

export async function restorePathFromRemote(input: {
  runner: Runner;
  config: VaultConfig;
  remote: RemoteTargetConfig;
  source: string;
  backup?: string;
  from?: string;
  path: string;
  before?: string;
  writable: boolean;
  overwrite: boolean;
  json?: boolean;
  to: string;
  mode: OutputMode;
  signal?: AbortSignal;
  controlDir?: string;
}): Promise<RemotePathRestoreReport> {
  const { runner, remote } = input;
  const backup = checkRestoreOptions({ ...input });
  const source = restoreSource(input.config, input.source);
  const rel = askablePath(remote, source, input.path);
  // the staging subvolume needs btrfs of ours: the snapshot folder's filesystem
  const home = dirname(source.snapshotDir);
  if (!existsSync(home))
    throw new UserError(
      `restore --path from a backup server receives the backup into ${home} (snapshot_dir) first, and it does not exist`,
      `make it on a btrfs filesystem (mkdir -m 700 -- ${home}), or restore the whole backup: btrfs-vault restore SOURCE --target ${remote.name} --to DIR`,
    );
  const report: RemotePathRestoreReport = {
    ...filesReport(runner, source, rel),
    target: `ssh://${destination(remote)}:${remote.port}`,
  };
  await removeDeadStaging(runner, home);
  const client = new ServeClient(runner, remote, input.controlDir);
  let reached = false;
  let lock: Lock | undefined;
  try {
    // before the server is asked, as from a disk: a second restore into this folder is
    // refused here, naming the run that holds it
    lock = await acquireLocks(runner, [restorePathLock(input.to)], `config ${input.config.file}`);
    await runTasks(
      [
        {
          title: `Restore ${report.path} of ${source.name} from ${remote.name} (${destination(remote)})`,
          task: async (_c: unknown, task: Task) => {
            await client.hello();
            reached = true;
            report.versions = versionsOf(await client.files(source.name, rel));
            const name = backup ?? report.versions.at(-1)?.backup;
            const listed = (await client.list(source.name))[source.name]?.backups ?? [];
            const chosen = listed.find((b) => b.name === name);
            if (!chosen || !report.versions.some((v) => v.backup === name))
              throw new UserError(
                backup === undefined
                  ? `${report.path} is in none of the backups of ${source.path} on ${remote.name}`
                  : !chosen
                    ? `there is no complete backup named ${escapeName(backup)} of ${source.path} on ${remote.name}`
                    : `${report.path} is not in the backup ${escapeName(backup)}`,
                `see where it is: btrfs-vault files ${source.path} ${rel} --target ${remote.name}`,
              );
            const staging = join(home, `.btrfs-vault-path-restore.${process.pid}`);
            await makeStaging(runner, staging);
            const started = Date.now();
            try {
              // the smallest stream: from a backup whose data is still here as a snapshot of the source
              const parent = await localParent(runner, source.snapshotDir, listed, chosen);
              report.parent = parent?.name;
              report.bytes = await receiveStaged(runner, client, source.name, chosen, staging, {
                ...input,
                task,
                parent,
              });
              const tree = join(staging, chosen.name);
              // a symlink among P's folders is refused as from a disk (statInside throws)
              if (runner.changesTakeEffect && !statInside(tree, rel))
                throw new TargetError(
                  `${report.path} is not in the backup ${chosen.name} the server sent, though its files answer said so`,
                  'check the server (btrfs-vault status there), then restore again',
                );
              const to = resolve(input.to);
              const kept = await copyBack(runner, join(tree, rel), to, input.overwrite, input.signal, (line) =>
                report.warnings.push(line),
              );
              report.restored = { from: chosen.name, to: escapeName(to), ...(kept ? { kept: escapeName(kept) } : {}) };
              report.seconds = (Date.now() - started) / 1000;
              task.title = `${report.path}: restored from ${chosen.name} on ${remote.name} to ${to}, ${formatBytes(report.bytes)} received in ${formatDuration(report.seconds * 1000)}`;
            } finally {
              await removeStaging(runner, staging);
            }
          },
        },
      ],
      input.mode,
      { exitOnError: true },
    );
    report.ok = true;
    report.status = 'ok';
  } catch (err) {
    report.error = errorMessage(err);
    report.fix = err instanceof VaultError ? err.fix : undefined;
    report.exitCode = err instanceof VaultError ? err.exitCode : ExitCode.failed;
    report.status = 'failed';
  } finally {
    if (reached) await client.close();
    await lock?.release();
  }
  return report;
}

/** Staging a killed run left (SIGKILL: no finally ran): ours by its name, its process gone. */
async function removeDeadStaging(runner: Runner, home: string): Promise<void> {
  for (const n of readdirSync(home)) {
    const m = STAGING_RE.exec(n);
    if (m && Number(m[1]) !== process.pid && !existsSync(`/proc/${m[1]}`)) await removeStaging(runner, join(home, n));
  }
}

/**
 * The nearest backup (older first, then newer) other than the one asked for whose data is
 * still here: a read-only snapshot of the source with its name whose UUID is the
 * backup's received UUID (the snapshot it is a copy of).
 */
async function localParent(
  runner: Runner,
  snapshotDir: string,
  listed: readonly RemoteBackup[],
  chosen: RemoteBackup,
): Promise<RemoteBackup | undefined> {
  const at = listed.indexOf(chosen);
  for (const b of [...listed.slice(0, at).reverse(), ...listed.slice(at + 1)]) {
    const here = join(snapshotDir, b.name);
    if (!lexists(here)) continue;
    const info = await subvolumeInfo(runner, here).catch(() => undefined);
    if (info?.readonly && info.uuid === b.receivedUuid) return b;
  }
  return undefined;
}
