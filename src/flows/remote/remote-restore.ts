import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { btrfs } from '../../btrfs/commands.js';
import { subvolumeInfo } from '../../btrfs/subvolume-info.js';
import type { RemoteTargetConfig, VaultConfig } from '../../config/config.js';
import { errorMessage, ExitCode, RemoteRefusedError, TargetError, UserError, VaultError } from '../../core/errors.js';
import { StreamGuard } from '../../btrfs/stream-guard.js';
import { isServeName } from '../../core/serve-verbs.js';
import { lexists } from '../../system/no-follow.js';
import type { Runner } from '../../system/runner.js';
import { formatBytes, formatDuration, formatProgress } from '../../ui/format.js';
import { progressInterval, runTasks, type OutputMode, type Task } from '../../ui/renderer.js';
import { destination, restoreFolderLock, taken } from '../restore/restore.js';
import { acquireLocks, type Lock } from '../../system/lock.js';
import { chooseBackup } from '../restore/backup-choice.js';
import { checkRestoreOptions } from '../restore/restore-mode.js';
import { BEFORE_RULE, parseBefore } from '../../core/before-time.js';
import { restoreSource } from '../session/source-pick.js';
import { ServeClient, sshError } from './serve-client.js';
import { destination as sshDestination } from './ssh.js';

// restore --target SERVER: a whole backup from a backup server, `ssh … send` into a
// local `btrfs receive` confined (chroot) to a fresh staging folder of ours, then
// checked (one read-only subvolume, named as asked, its received UUID the backup's)
// before it is put in place as a read-only snapshot. A stream from elsewhere is
// trusted with nothing outside that folder.

export interface RemoteRestoreInput {
  runner: Runner;
  config: VaultConfig;
  remote: RemoteTargetConfig;
  source: string;
  backup?: string;
  /** the newest backup older than this (as the disk's --before) */
  before?: string;
  /** a writable snapshot beside the restored backup (as the disk's --writable) */
  writable: boolean;
  /** the old name of `backup`, with --path only */
  from?: string;
  path?: string;
  overwrite: boolean;
  json?: boolean;
  to: string;
  mode: OutputMode;
  signal?: AbortSignal;
  controlDir?: string;
}

export interface RemoteRestoreReport {
  ok: boolean;
  dryRun: boolean;
  target: string;
  source: string;
  name: string;
  backup?: string;
  restored?: string;
  writable?: string;
  bytes?: number;
  seconds?: number;
  error?: string;
  fix?: string;
  exitCode: number;
}

export async function restoreFromRemote(input: RemoteRestoreInput): Promise<RemoteRestoreReport> {
  const { runner, remote } = input;
  // the disk's rules for which options go together, and its one --before rule
  const backup = checkRestoreOptions({ ...input, json: input.json });
  const before = input.before === undefined ? undefined : parseBefore(input.before);
  if (input.before !== undefined && before === undefined)
    throw new UserError(`--before ${input.before} is not a date and time`, `write it ${BEFORE_RULE}`);
  const source = restoreSource(input.config, input.source);
  if (!isServeName(source.name))
    throw new UserError(
      `${JSON.stringify(source.name)} cannot be a folder on a backup server`,
      'name the source as it was backed up (btrfs-vault list --target NAME)',
    );
  const dest = destination(input.to);
  const report: RemoteRestoreReport = {
    ok: false,
    dryRun: !runner.changesTakeEffect,
    target: `ssh://${sshDestination(remote)}:${remote.port}`,
    source: source.path,
    name: source.name,
    exitCode: ExitCode.ok,
  };
  const client = new ServeClient(runner, remote, input.controlDir);
  let reached = false;
  let lock: Lock | undefined;
  try {
    // before the server is asked: a second restore into this folder is refused here, not
    // after both have received the whole backup and raced for its name
    lock = await acquireLocks(runner, [restoreFolderLock(dest)], `config ${input.config.file}`);
    await runTasks(
      [
        {
          title: `Restore ${source.name} from ${remote.name} (${sshDestination(remote)})`,
          task: async (_c: unknown, task: Task) => {
            const listed = (await client.open(source.name)).folders[source.name];
            reached = true;
            const backups = listed?.backups ?? [];
            if (backups.length === 0)
              throw new TargetError(
                `${remote.name} has no backup of ${source.name}`,
                `see what it has: btrfs-vault list --target ${remote.name}`,
              );
            const chosen = chooseBackup(
              backups,
              { source: source.path, backup, before, listCommand: `btrfs-vault list --target ${remote.name}` },
              listed?.latest ?? undefined,
            );
            report.backup = chosen.name;
            const restored = join(dest.dir, chosen.name);
            if (lexists(restored)) throw await taken(runner, restored, 'nothing is ever overwritten');
            // refused before anything is sent: a refusal writes nothing
            if (input.writable && lexists(`${restored}.writable`))
              throw new UserError(
                `${restored}.writable exists already; nothing is ever overwritten, and nothing was restored`,
                `move ${restored}.writable away first`,
              );
            await receiveInto(input, client, source.name, chosen, dest.dir, restored, report, task);
            if (input.writable) {
              report.writable = `${restored}.writable`;
              // beside it, as from a disk: the restored subvolume stays read-only
              await runner.run(btrfs.writableSnapshot(restored, report.writable));
            }
          },
        },
      ],
      input.mode,
      { exitOnError: true },
    );
    report.ok = true;
  } catch (err) {
    report.error = errorMessage(err);
    report.fix = err instanceof VaultError ? err.fix : undefined;
    report.exitCode = err instanceof VaultError ? err.exitCode : ExitCode.failed;
  } finally {
    if (reached) await client.close();
    await lock?.release();
  }
  return report;
}

async function receiveInto(
  input: RemoteRestoreInput,
  client: ServeClient,
  folder: string,
  chosen: { name: string; receivedUuid: string },
  dir: string,
  restored: string,
  report: RemoteRestoreReport,
  task: Task,
): Promise<void> {
  const { runner } = input;
  // a fresh folder of ours: whatever the stream makes lands in it and nowhere else
  const staging = join(dir, `.btrfs-vault-restore.${process.pid}`);
  await makeStaging(runner, staging);
  const started = Date.now();
  try {
    const bytes = await receiveStaged(runner, client, folder, chosen, staging, { ...input, task });
    // a read-only subvolume cannot move to another folder: a read-only snapshot of it can be made there
    await runner.run(btrfs.snapshot(join(staging, chosen.name), restored));
    report.restored = restored;
    report.bytes = bytes;
    report.seconds = (Date.now() - started) / 1000;
    task.title = `${folder}: ${chosen.name} restored from ${client.remote.name} as ${restored}, ${formatBytes(bytes)} in ${formatDuration(report.seconds * 1000)}`;
  } finally {
    await removeStaging(runner, staging);
  }
}

/** A staging folder made here and now, or refused: what another account put there in between is not ours. */
export async function makeStaging(runner: Runner, staging: string): Promise<void> {
  if (lexists(staging)) throw await taken(runner, staging, 'it is not ours to use');
  try {
    runner.change({ op: 'mkdir', path: staging, mode: 0o700, exclusive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw await taken(runner, staging, 'it is not ours to use');
    throw err;
  }
}

/**
 * The backup's stream from the server into `staging` (made by makeStaging), through the
 * stream guard, then checked: one read-only subvolume named as asked with the received
 * UUID `list` gave. Returns the bytes received; the caller removes the staging folder.
 */
export async function receiveStaged(
  runner: Runner,
  client: ServeClient,
  folder: string,
  chosen: { name: string; receivedUuid: string },
  staging: string,
  opts: {
    signal?: AbortSignal;
    mode: OutputMode;
    task: Task;
    parent?: { name: string; receivedUuid: string };
    config: Pick<VaultConfig, 'stallMs'>;
  },
): Promise<number> {
  const started = Date.now();
  let last = 0;
  // the server's word is checked as a client's is on the server: one subvolume, the one
  // asked for (its stream carries the received UUID `list` gave), nothing outside it
  // incremental: its clone source is the parent's received UUID (a snapshot here, found by receive on this filesystem)
  const parent = opts.parent ?? null;
  const guard = new StreamGuard({ name: chosen.name, uuid: chosen.receivedUuid, parent: parent?.receivedUuid ?? null });
  // ssh on a master connection hands its stdout to the master: killing it leaves the
  // stream open until the server ends it (a stalled server: never), so Ctrl-C ends the master
  const endMaster = () => void client.close();
  opts.signal?.addEventListener('abort', endMaster, { once: true });
  const { bytes } = await runner
    .pipe(client.sendArgv(folder, chosen.name, parent?.name ?? null), btrfs.receiveConfined(staging), {
      through: guard,
      signal: opts.signal,
      stallMs: opts.config.stallMs,
      onProgress: (b) => {
        if (Date.now() - last < progressInterval(opts.mode)) return;
        last = Date.now();
        opts.task.output = formatProgress(b, Date.now() - started);
      },
    })
    .catch((err: unknown) => {
      if (err instanceof RemoteRefusedError)
        throw new TargetError(
          `the stream ${client.remote.name} sent for ${chosen.name} was stopped before btrfs receive saw the bad part (${err.message.replace(/^the send stream was refused: /, '')}); what it made was deleted, nothing was restored`,
          'check the server (btrfs-vault status there), then restore again',
        );
      throw sshError(client.remote, err);
    })
    .finally(() => opts.signal?.removeEventListener('abort', endMaster));
  if (runner.changesTakeEffect) {
    const made = readdirSync(staging);
    const info =
      made.length === 1 && made[0] === chosen.name
        ? await subvolumeInfo(runner, join(staging, chosen.name))
        : undefined;
    if (!info || !info.readonly || info.receivedUuid !== chosen.receivedUuid)
      throw new TargetError(
        `the stream ${client.remote.name} sent for ${chosen.name} made ${made.length === 1 ? JSON.stringify(made[0]) : `${made.length} entries`}${info ? ` (received UUID ${info.receivedUuid ?? '-'}, ${info.readonly ? 'read-only' : 'writable'})` : ''}, not the backup asked for; it was deleted, nothing was restored`,
        'check the server (btrfs-vault status there), then restore again',
      );
  }
  return bytes;
}

/**
 * The staging folder and what the stream made in it: ours alone (made fresh by a run of
 * ours). Only subvolumes in it are deleted (a subvolume's root folder has inode 256; a
 * link is never followed), then the folder if it is empty.
 */
export async function removeStaging(runner: Runner, staging: string): Promise<void> {
  if (!runner.changesTakeEffect) return;
  let entries: string[] = [];
  try {
    if (!lstatSync(staging).isDirectory()) return;
    entries = readdirSync(staging);
  } catch {
    return;
  }
  for (const e of entries) {
    const st = lstatSync(join(staging, e), { throwIfNoEntry: false });
    if (st?.isDirectory() && st.ino === 256) await runner.run(btrfs.delete(join(staging, e)), { allowFailure: true });
  }
  // empty now: rmdir removes nothing else
  await runner.run(['rmdir', ['--', staging]], { allowFailure: true });
}
