import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { btrfs } from '../../btrfs/commands.js';
import { subvolumeInfo } from '../../btrfs/subvolume-info.js';
import type { RemoteTargetConfig, VaultConfig } from '../../config/config.js';
import { errorMessage, ExitCode, TargetError, UserError, VaultError } from '../../core/errors.js';
import { isServeName } from '../../core/serve-verbs.js';
import { lexists } from '../../system/no-follow.js';
import type { Runner } from '../../system/runner.js';
import { formatBytes, formatDuration, formatProgress } from '../../ui/format.js';
import { progressInterval, runTasks, type OutputMode, type Task } from '../../ui/renderer.js';
import { destination, taken } from '../restore/restore.js';
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
  bytes?: number;
  seconds?: number;
  error?: string;
  fix?: string;
  exitCode: number;
}

export async function restoreFromRemote(input: RemoteRestoreInput): Promise<RemoteRestoreReport> {
  const { runner, remote } = input;
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
  try {
    await runTasks(
      [
        {
          title: `Restore ${source.name} from ${remote.name} (${sshDestination(remote)})`,
          task: async (_c: unknown, task: Task) => {
            const listed = (await client.open(source.name)).folders[source.name];
            reached = true;
            const backups = listed?.backups ?? [];
            const chosen =
              input.backup !== undefined
                ? backups.find((b) => b.name === input.backup)
                : (backups.find((b) => b.name === listed?.latest) ?? backups.at(-1));
            if (!chosen)
              throw new TargetError(
                input.backup !== undefined
                  ? `${remote.name} has no complete backup ${input.backup} of ${source.name}`
                  : `${remote.name} has no backup of ${source.name}`,
                `see what it has: btrfs-vault list --target ${remote.name}`,
              );
            report.backup = chosen.name;
            const restored = join(dest.dir, chosen.name);
            if (lexists(restored)) throw await taken(runner, restored, 'nothing is ever overwritten');
            await receiveInto(input, client, source.name, chosen, dest.dir, restored, report, task);
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
  if (lexists(staging)) throw await taken(runner, staging, 'it is not ours to use');
  runner.change({ op: 'mkdir', path: staging, mode: 0o700 });
  const started = Date.now();
  let last = 0;
  try {
    const { bytes } = await runner
      .pipe(client.sendArgv(folder, chosen.name, null), btrfs.receiveConfined(staging), {
        signal: input.signal,
        onProgress: (b) => {
          if (Date.now() - last < progressInterval(input.mode)) return;
          last = Date.now();
          task.output = formatProgress(b, Date.now() - started);
        },
      })
      .catch((err: unknown) => {
        throw sshError(client.remote, err);
      });
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

/** The staging folder and what the stream made in it: ours alone (made fresh by this run). */
async function removeStaging(runner: Runner, staging: string): Promise<void> {
  if (!runner.changesTakeEffect) return;
  let entries: string[] = [];
  try {
    entries = readdirSync(staging);
  } catch {
    return;
  }
  for (const e of entries) await runner.run(btrfs.delete(join(staging, e)), { allowFailure: true });
  // empty now: rmdir removes nothing else
  await runner.run(['rmdir', ['--', staging]], { allowFailure: true });
}
