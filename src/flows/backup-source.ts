import { mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { btrfs } from '../btrfs/commands.js';
import { LATEST, moveLinks, readLink, removeStaleLinks } from '../btrfs/links.js';
import { childrenOf, listSubvolumes, nestedIn, showSubvolume, type Subvolume } from '../btrfs/subvolumes.js';
import { transfer } from '../btrfs/transfer.js';
import { ExitCode, InterruptedError, VaultError } from '../core/errors.js';
import { isUnder, type MountEntry } from '../core/mountinfo.js';
import { compareSnapshotNames, isSnapshotName, snapshotName } from '../core/naming.js';
import { chooseParent } from '../core/parent.js';
import { quote, type Runner } from '../system/runner.js';
import type { SourceConfig } from '../config/config.js';
import { assertNotOnTarget, type CheckedSource } from './source-check.js';

export interface SourceOutcome {
  snapshot: string;
  mode: 'full' | 'incremental';
  parent?: string;
  bytes: number;
  seconds: number;
  /** incomplete subvolumes of an earlier interrupted run, deleted by this one */
  cleaned: string[];
  warnings: string[];
}

export interface BackupSourceDeps {
  runner: Runner;
  targetMount: MountEntry;
  signal?: AbortSignal;
  now?: () => Date;
  /** a step (for the task's output) */
  step(text: string): void;
  progress(bytes: number, elapsedMs: number): void;
  /** the source filesystem's subvolumes, when the run already asked for them */
  sourceListing?: Promise<Subvolume[]>;
  /** every configured source: they and their snapshots are backed up on their own, not "nested" */
  knownSources?: readonly Pick<SourceConfig, 'path' | 'snapshotDir'>[];
}

/** The state problem when `latest` differs between the sides. */
export class LatestMismatchError extends VaultError {
  constructor(source: string, srcDir: string, dstDir: string, srcLatest: string, dstLatest: string) {
    super(
      `${source}: \`latest\` points at different data on the two sides (${srcDir}/latest -> ${srcLatest}, ${dstDir}/latest -> ${dstLatest}); refusing to guess which incremental parent is right`,
      ExitCode.failed,
      `point both at the same snapshot, e.g. ln -sfn ${quote(dstLatest)} ${quote(`${srcDir}/latest`)} (if ${dstLatest} exists on both sides), or remove both links to let btrfs-vault pick the newest common snapshot`,
    );
  }
}

/** One source: clean up, snapshot, choose a parent, send|receive, move `latest`. */
export async function backupSource(source: CheckedSource, deps: BackupSourceDeps): Promise<SourceOutcome> {
  const { runner, targetMount, signal } = deps;
  const checkAbort = () => {
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new InterruptedError('SIGINT');
  };
  assertNotOnTarget(source, targetMount);
  const targetDir = join(targetMount.mountPoint, source.name);
  await ensureDir(runner, targetDir);
  await ensureDir(runner, source.snapshotDir);
  const snapDir = runner.dryRun ? source.snapshotDir : realpathSync.native(source.snapshotDir);

  const warnings: string[] = [];
  // both listings at once: they are independent, and each is a process start
  const [dstAll, srcAll] = await Promise.all([listSubvolumes(runner, targetMount), deps.sourceListing ?? listSubvolumes(runner, source.mount)]);
  const dst = childrenOf(dstAll, targetDir);
  const snaps = sortByName(childrenOf(srcAll, snapDir).filter((s) => isSnapshotName(s.name)));
  const complete = dst.filter((s) => s.receivedUuid);
  // decided before anything is written: a refusal leaves both sides as they were
  const choice = chooseParent({ source: snaps, target: complete, sourceLatest: readLink(snapDir, LATEST), targetLatest: readLink(targetDir, LATEST) });
  if (choice.kind === 'mismatch') {
    throw new LatestMismatchError(source.path, snapDir, targetDir, choice.sourceLatest, choice.targetLatest);
  }

  // a receive that an earlier run left behind has no received UUID: delete it first
  const cleaned: string[] = [];
  for (const partial of dst.filter((s) => !s.receivedUuid)) {
    deps.step(`deleting ${partial.path}, left incomplete by an interrupted run`);
    await runner.run(btrfs.delete(partial.path));
    cleaned.push(partial.path);
  }
  removeStaleLinks(runner, targetDir);
  removeStaleLinks(runner, snapDir);

  const backedUpAnyway = (path: string) =>
    isUnder(path, snapDir) || [source, ...(deps.knownSources ?? [])].some((o) => path === o.path || isUnder(path, o.snapshotDir));
  const nested = nestedIn(srcAll, source.real).filter((s) => !backedUpAnyway(s.path));
  if (nested.length > 0) {
    warnings.push(
      `nested subvolumes are not part of a snapshot of ${source.path} and are not backed up with it: ${nested.map((s) => s.path).join(', ')} (list them as sources of their own)`,
    );
  }
  checkAbort();

  const name = snapshotName((deps.now ?? (() => new Date()))(), [...snaps, ...dst].map((s) => s.name));
  const snapshot = join(snapDir, name);
  deps.step(`snapshot ${source.path} -> ${snapshot}`);
  const taking = runner.run(btrfs.snapshot(source.real, snapshot));
  runner.preparePipe?.(); // the FIFO for the transfer is made while the snapshot is taken
  await taking;
  // its UUID is needed only to verify the copy, so it is read while the stream runs
  const snapshotUuid = runner.dryRun ? Promise.resolve(undefined) : showSubvolume(runner, snapshot).then((s) => s.uuid);
  snapshotUuid.catch(() => {}); // awaited in transfer(); a failure surfaces there
  checkAbort();

  const parent = choice.kind === 'incremental' ? join(snapDir, choice.parent) : undefined;
  deps.step(parent ? `incremental send from ${choice.kind === 'incremental' ? choice.parent : ''}` : `full send (${choice.kind === 'full' ? choice.reason : ''})`);
  const started = Date.now();
  const { bytes } = await transfer(runner, {
    snapshot,
    snapshotUuid,
    parent,
    targetDir,
    signal,
    onProgress: (b) => deps.progress(b, Date.now() - started),
  });
  const seconds = (Date.now() - started) / 1000;

  // only now, with a complete copy on the target, do the links move
  moveLinks(runner, targetDir, name);
  moveLinks(runner, snapDir, name);
  return {
    snapshot: name,
    mode: parent ? 'incremental' : 'full',
    parent: choice.kind === 'incremental' ? choice.parent : undefined,
    bytes,
    seconds,
    cleaned,
    warnings,
  };
}

function sortByName<T extends Pick<Subvolume, 'name'>>(list: T[]): T[] {
  return [...list].sort((a, b) => compareSnapshotNames(a.name, b.name));
}

async function ensureDir(runner: Runner, dir: string): Promise<void> {
  runner.note(`mkdir -p ${quote(dir)}`);
  if (!runner.dryRun) mkdirSync(dir, { recursive: true, mode: 0o700 });
}
