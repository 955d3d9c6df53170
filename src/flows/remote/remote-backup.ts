import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { btrfs } from '../../btrfs/commands.js';
import { compressedSendSupported, compressedTarget } from '../../btrfs/send-features.js';
import { claimFolder, ownFolder } from '../../btrfs/folders.js';
import { subvolumeInfo } from '../../btrfs/subvolume-info.js';
import { listSourceSubvolumes, snapshotsIn, type Subvolume } from '../../btrfs/subvolumes.js';
import type { RemoteTargetConfig, SourceConfig, VaultConfig } from '../../config/config.js';
import { errorMessage, ExitCode, UserError, VaultError } from '../../core/errors.js';
import { snapshotName } from '../../core/naming.js';
import { chooseParent } from '../../core/parent.js';
import { NAME_RE, isServeName } from '../../core/serve-verbs.js';
import type { MountEntry } from '../../core/mountinfo.js';
import { acquireLocks, type Lock } from '../../system/lock.js';
import { readMounts } from '../../system/mounts.js';
import { killPoint } from '../../system/kill-point.js';
import type { Runner } from '../../system/runner.js';
import { formatBytes, formatDuration, formatProgress } from '../../ui/format.js';
import { progressInterval, runTasks, type OutputMode, type Task } from '../../ui/renderer.js';
import type { TargetBackupReport } from '../backup/backup-rotation.js';
import type { SourceReport } from '../backup/backup.js';
import { checkSource, type CheckedSource } from '../backup/source-check.js';
import { runExitCode } from '../session/target-session.js';
import { pruneRemoteSource } from './remote-retention.js';
import { recordRemoteRun } from './remote-record.js';
import { ServeClient, sshError, type RemoteBackup, type RemoteFolders } from './serve-client.js';
import { destination } from './ssh.js';

// A backup to a server over SSH: for each source, the server's list of that folder says
// which snapshot is the parent (the newest one whose UUID a complete backup there holds
// as its received UUID); the run's snapshot (one made for a disk earlier in this run, or
// one of its own) goes `btrfs send | ssh … receive`, and only the server's answer naming
// that very copy moves the pin. A server that cannot be reached fails this target alone.

export interface RemoteRunInput {
  config: VaultConfig;
  remote: RemoteTargetConfig;
  sources: SourceConfig[];
  runner: Runner;
  mode: OutputMode;
  force?: boolean;
  signal?: AbortSignal;
  /** the snapshot each source got earlier in this run (by source name), sent here too */
  madeThisRun: Map<string, string>;
  lockDir?: string;
  /** when the whole run began (the disks' runs before this one) */
  runStarted?: Date;
  /** the ssh master's socket folder (tests) */
  controlDir?: string;
}

/** The UUID a dry-run announces for a snapshot it did not take. */
const NO_UUID = '00000000-0000-0000-0000-000000000000';

/** One server's run: check and lock the sources, hello, then each source; the report as a disk's. */
export async function backUpToRemote(input: RemoteRunInput): Promise<TargetBackupReport> {
  const { runner, remote, mode } = input;
  const report: TargetBackupReport = {
    name: remote.name,
    ok: false,
    dryRun: !runner.changesTakeEffect,
    target: `ssh://${destination(remote)}:${remote.port}`,
    sources: input.sources.map((s) => ({ source: s.path, name: s.name, status: 'not-run', cleaned: [], warnings: [] })),
    warnings: [],
    exitCode: ExitCode.ok,
  };
  const started = new Date();
  const client = new ServeClient(runner, remote, input.controlDir);
  const checked = new Map<SourceReport, CheckedSource>();
  let mounts: MountEntry[] = [];
  let lock: Lock | undefined;
  let reached = false;
  let folders: RemoteFolders = {};
  const listings = new Map<SourceReport, Promise<readonly Subvolume[]>>();
  let fatal: unknown;
  const fail = (r: SourceReport, err: unknown) => {
    r.status = 'failed';
    r.error = errorMessage(err);
    r.fix = err instanceof VaultError ? err.fix : undefined;
    r.exitCode = err instanceof VaultError ? err.exitCode : ExitCode.failed;
  };
  const tasks = [
    {
      title: `Check sources and reach ${remote.name} (${destination(remote)})`,
      task: async (_c: unknown, task: Task) => {
        mounts = await readMounts();
        for (const [i, s] of input.sources.entries()) {
          const r = report.sources[i]!;
          try {
            if (!isServeName(s.name))
              throw new UserError(
                `the source ${s.path} is named ${JSON.stringify(s.name)}, which a backup server does not take as a folder name (${NAME_RE.source}, not "latest"); nothing was sent`,
                `give it a name that fits in the config: sources = [{ path = "${s.path}", name = "..." }]`,
              );
            checked.set(r, await checkSource(s, mounts));
          } catch (err) {
            fail(r, err);
          }
        }
        if (checked.size === 0) return; // each source's failure says why
        try {
          if (runner.changesTakeEffect)
            lock = await acquireLocks(
              runner,
              [
                { what: `the backup server ${remote.name}`, key: `remote ${destination(remote)}:${remote.port}` },
                ...[...checked.values()].map((c) => ({
                  what: `the source ${c.path}`,
                  key: `source ${c.mount.device} ${c.real}`,
                })),
              ],
              `config ${input.config.file}`,
              input.lockDir,
            );
          // each source's listing (after a commit, for the no-change check) is read one after
          // the other while the server answers its list
          let chain = Promise.resolve<unknown>(undefined);
          for (const [r, c] of checked) {
            const listing = chain.then(() => sourceListing(input, c));
            listing.catch(() => {}); // awaited by the source's task, which reports it
            listings.set(r, listing);
            chain = listing.catch(() => undefined);
          }
          // one list for the run (the one source's folder, or all): it says hello's answer too
          const names = [...checked.values()].map((c) => c.name);
          const opened = await client.open(names.length === 1 ? names[0] : undefined);
          folders = opened.folders;
          const hello = opened.hello;
          reached = true;
          task.title = `${remote.name} (${destination(remote)}): btrfs-vault ${hello.version}`;
        } catch (err) {
          fatal = err;
          throw err;
        }
      },
    },
    ...report.sources.map((r) => ({
      title: `Back up ${r.source} to ${remote.name}`,
      enabled: () => checked.has(r) && fatal === undefined,
      task: async (_c: unknown, task: Task) => {
        try {
          await backUpSource(input, client, checked.get(r)!, await listings.get(r)!, folders, mounts, r, task);
        } catch (err) {
          fail(r, err);
          throw err;
        }
      },
    })),
  ];
  try {
    await runTasks(tasks, mode);
  } catch (err) {
    fatal ??= err;
  } finally {
    if (reached) await client.close();
    try {
      if (lock) await recordRemoteRun(runner, input.config, remote.name, report, reached, input.runStarted ?? started);
    } catch (err) {
      report.warnings.push(`the host's record of this run could not be written: ${errorMessage(err)}`);
    }
    await lock?.release();
  }
  if (fatal !== undefined && report.sources.every((r) => r.status !== 'ok')) {
    report.error = errorMessage(fatal);
    report.fix = fatal instanceof VaultError ? fatal.fix : undefined;
  }
  report.exitCode = runExitCode(report.sources, reached || fatal === undefined ? undefined : fatal);
  report.ok = report.exitCode === ExitCode.ok && report.sources.every((r) => r.status === 'ok');
  return report;
}

async function backUpSource(
  input: RemoteRunInput,
  client: ServeClient,
  source: CheckedSource,
  listing: readonly Subvolume[],
  folders: RemoteFolders,
  mounts: readonly MountEntry[],
  r: SourceReport,
  task: Task,
): Promise<void> {
  const { runner, config, mode } = input;
  const snapDir = await ownFolder(runner, source.snapshotDir, { side: 'source', mount: source.mount, mounts }, true);
  claimFolder(runner, snapDir, 'source', { host: config.host, source: source.real });
  const made = input.madeThisRun.get(source.name);
  const mayBeQuiet = made === undefined && !input.force;
  // the server's folder as the run's first call listed it: under this host's lock on the
  // server, only the server's own prune changes it meanwhile, and receive checks again
  const backups: RemoteBackup[] = folders[source.name]?.backups ?? [];
  const snaps = snapshotsIn(listing, snapDir);
  const newest = snaps.at(-1);
  const live = listing.find((x) => x.path === source.real);
  const quiet =
    mayBeQuiet && newest?.cgen !== undefined && live !== undefined && live.gen <= newest.cgen ? newest : undefined;
  // the run's snapshot for another target, else the newest when nothing changed since: no new one
  const existing = made === undefined ? quiet : snaps.find((x) => x.name === made);
  const onServer = new Set(backups.map((b) => b.receivedUuid));
  if (existing && onServer.has(existing.uuid)) {
    Object.assign(r, { status: 'ok', snapshot: existing.name, snapshotUuid: existing.uuid, mode: 'unchanged' });
    task.title = `${r.source}: ${existing.name} is on ${client.remote.name} already`;
    return;
  }
  const choice = chooseParent({
    source: snaps.filter((s) => s.name !== existing?.name),
    target: backups.map((b) => ({ name: b.name, receivedUuid: b.receivedUuid })),
  });
  const parent = choice.kind === 'incremental' ? snaps.find((s) => s.name === choice.parent) : undefined;
  const snap = existing ?? (await takeSnapshot(runner, source, snapDir, snaps, task));
  task.output =
    parent !== undefined
      ? `incremental send from ${parent.name}`
      : `full send (${choice.kind === 'full' ? choice.reason : ''})`;
  const started = Date.now();
  let last = 0;
  const uuid = snap.uuid || NO_UUID;
  // compressed extents travel as they are: on 127.0.0.1, 300 MiB of logs went as 123 MB in
  // 0.95 s, where ssh's own compression took 7.3 s for 121 MB (none: 315 MB, 1.4 s)
  const compressed = compressedTarget(source.mount) && (await compressedSendSupported(runner));
  let sent;
  try {
    sent = await runner.pipe(
      btrfs.send(join(snapDir, snap.name), parent && join(snapDir, parent.name), compressed),
      client.receiveArgv(source.name, snap.name, uuid, parent?.uuid ?? null),
      {
        signal: input.signal,
        stallMs: input.config.stallMs,
        onProgress: (bytes) => {
          if (bytes > 0) killPoint('during-send');
          if (Date.now() - last < progressInterval(mode)) return;
          last = Date.now();
          task.output = formatProgress(bytes, Date.now() - started);
        },
      },
    );
  } catch (err) {
    throw sshError(client.remote, err);
  }
  const seconds = (Date.now() - started) / 1000;
  if (runner.changesTakeEffect) client.received(sent.output ?? '', snap.name, uuid);
  if (!existing) input.madeThisRun.set(source.name, snap.name);
  Object.assign(r, {
    status: 'ok',
    snapshot: snap.name,
    snapshotUuid: snap.uuid || undefined,
    mode: parent ? 'incremental' : 'full',
    parent: parent?.name,
    bytes: sent.bytes,
    seconds,
  });
  task.title = `${r.source}: ${snap.name} (${parent ? `incremental from ${parent.name}` : 'full'}) to ${client.remote.name}, ${formatBytes(sent.bytes)} in ${formatDuration(seconds * 1000)}`;
  if (config.retention && runner.changesTakeEffect) {
    try {
      const pruned = await pruneRemoteSource({
        config,
        remote: client.remote,
        runner,
        snapDir,
        snaps: [...snaps.filter((s) => s.name !== snap.name), snap],
        backups: [...backups, { receivedUuid: snap.uuid }],
        sourcePath: source.path,
        sourceName: source.name,
      });
      r.pruned = { source: pruned.deleted, target: [] };
      r.warnings.push(...pruned.warnings);
    } catch (err) {
      r.warnings.push(`retention could not delete old snapshots: ${errorMessage(err)}`);
    }
  }
}

/** The source's filesystem listed; when it may be unchanged, after a commit (its generation is compared). */
async function sourceListing(input: RemoteRunInput, source: CheckedSource): Promise<readonly Subvolume[]> {
  if (input.madeThisRun.get(source.name) === undefined && !input.force)
    await input.runner.run(btrfs.sync(source.mount.mountPoint));
  return listSourceSubvolumes(input.runner, source.mount);
}

/** A new read-only snapshot of the source, named free of everything in its folder. */
async function takeSnapshot(
  runner: Runner,
  source: CheckedSource,
  snapDir: string,
  snaps: readonly Subvolume[],
  task: Task,
): Promise<Pick<Subvolume, 'name' | 'uuid'>> {
  const name = snapshotName(new Date(), [...snaps.map((s) => s.name), ...entries(snapDir)]);
  const path = join(snapDir, name);
  task.output = `snapshot ${source.path} -> ${path}`;
  await runner.run(btrfs.snapshot(source.real, path));
  runner.preparePipe?.();
  const uuid = runner.changesTakeEffect ? (await subvolumeInfo(runner, path)).uuid : '';
  return { name, uuid };
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
