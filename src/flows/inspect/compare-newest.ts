import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { childrenOf, firstOfEachCopy, isCompleteCopy, snapshotsIn } from '../../btrfs/subvolumes.js';
import { ExitCode, TargetError, VaultError } from '../../core/errors.js';
import { parseItemize } from '../../core/itemize.js';
import { chooseParent } from '../../core/parent.js';
import type { Runner } from '../../system/runner.js';
import type { CheckedSource } from '../backup/source-check.js';
import type { Task, TargetSession } from '../session/target-session.js';
import type { VerifyOptions, VerifySourceReport } from './verify.js';
import { verifyCommands } from './verify-commands.js';

/** Without --full, the contents of this many files (at most this many bytes) are compared, chosen at random. */
const SAMPLE_FILES = 200;
const SAMPLE_BYTES = 256 * 1024 ** 2;

/**
 * A source's newest pair (the newest snapshot present on both sides, as backup pairs
 * them) compared: the tree and its metadata, and the contents of a random sample of its
 * files (all of them with --full). A difference fails the source.
 */
export async function compareNewest(
  session: TargetSession<VerifySourceReport>,
  opts: VerifyOptions,
  r: VerifySourceReport,
  source: CheckedSource,
  task: Task,
): Promise<void> {
  const { runner } = opts;
  const mount = session.targetMount!;
  const snapDir = source.snapshotDir;
  const targetDir = join(mount.mountPoint, source.name);
  const snaps = snapshotsIn(await session.sourceListing(source.mount), snapDir);
  const pair = chooseParent({
    source: snaps,
    // a snapshot someone made of a backup carries its received UUID, and is not one
    target: firstOfEachCopy(childrenOf(await session.targetListing(), targetDir).filter(isCompleteCopy)),
  });
  if (pair.kind !== 'incremental')
    throw new TargetError(`${r.source} has no backup on this disk to verify`, 'run: btrfs-vault backup');
  r.snapshot = pair.parent;
  const from = join(snapDir, pair.parent);
  const to = join(targetDir, pair.targetName);
  task.output = `comparing ${from} with ${to}`;
  r.differences = parseItemize((await runner.query(verifyCommands.compare(from, to, opts.full))).stdout);
  if (!opts.full) await compareSample(runner, from, to, r, task);
  task.title = `${r.source}: ${pair.parent} ${r.differences.length === 0 ? `is equal on both sides${opts.full ? '' : ` (contents of ${r.checksummed} files compared)`}` : `DIFFERS in ${r.differences.length} place(s)`}`;
  if (r.differences.length > 0) {
    throw new VaultError(
      `the backup ${to} differs from the snapshot ${from}:\n${r.differences.map((d) => `  ${d.path}: ${d.what}`).join('\n')}`,
      ExitCode.failed,
      'the backup was changed after it was made, or the disk is failing: run btrfs-vault verify --full, check the disk (btrfs device stats), and make a new full backup of this source into a fresh folder',
    );
  }
}

/** The contents of a random sample of the snapshot's files, compared by checksum: what differs is added to the report. */
async function compareSample(
  runner: Runner,
  from: string,
  to: string,
  r: VerifySourceReport,
  task: Task,
): Promise<void> {
  const sample = sampleFiles(from);
  r.checksummed = sample.length;
  if (sample.length === 0) return;
  task.output = `checksums of ${sample.length} files chosen at random`;
  const known = new Set(r.differences.map((d) => d.path));
  // the list goes on stdin: names may hold any byte but NUL, so NUL ends each
  const found = parseItemize(
    (
      await runner.query(verifyCommands.compare(from, to, true, true), {
        input: Buffer.concat(sample.flatMap((p) => [p, Buffer.of(0)])),
      })
    ).stdout,
  );
  r.differences.push(...found.filter((d) => !known.has(d.path)));
}

function sizeOf(path: Buffer): number {
  try {
    return lstatSync(path).size;
  } catch {
    return 0;
  }
}

/** Regular files of a tree, a random sample up to SAMPLE_FILES and SAMPLE_BYTES, relative paths as bytes (names are bytes, not UTF-8). */
function sampleFiles(root: string): Buffer[] {
  const files: { path: Buffer }[] = [];
  const slash = Buffer.from('/');
  const folders: Buffer[] = [Buffer.alloc(0)];
  for (let rel = folders.pop(); rel !== undefined; rel = folders.pop()) {
    for (const e of readdirSync(Buffer.concat([Buffer.from(root), slash, rel]), {
      withFileTypes: true,
      encoding: 'buffer',
    })) {
      const path = rel.length === 0 ? e.name : Buffer.concat([rel, slash, e.name]);
      if (e.isDirectory()) folders.push(path);
      else if (e.isFile()) files.push({ path });
    }
  }
  // Fisher-Yates: each verify looks at other files
  for (let i = files.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [files[i], files[j]] = [files[j]!, files[i]!];
  }
  const out: Buffer[] = [];
  let bytes = 0;
  for (const f of files) {
    if (out.length >= SAMPLE_FILES) break;
    const size = sizeOf(Buffer.concat([Buffer.from(`${root}/`), f.path]));
    if (bytes + size > SAMPLE_BYTES && out.length > 0) continue;
    bytes += size;
    out.push(f.path);
  }
  return out;
}
