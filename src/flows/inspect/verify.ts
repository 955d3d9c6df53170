import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SourceConfig, VaultConfig } from '../../config/config.js';
import { ExitCode, TargetError, VaultError } from '../../core/errors.js';
import { parseItemize, type Difference } from '../../core/itemize.js';
import { chooseParent } from '../../core/parent.js';
import { childrenOf, isCompleteCopy, snapshotsIn, type Subvolume } from '../../btrfs/subvolumes.js';
import type { MountEntry } from '../../core/mountinfo.js';
import { arrayKernelName, mdAttribute } from '../../stack/array-state.js';
import { raidLayer } from '../../stack/raid.js';
import { hasLayer } from '../../stack/stack.js';
import type { Argv, Runner } from '../../system/runner.js';
import { formatBytes } from '../../ui/format.js';
import type { OutputMode } from '../../ui/renderer.js';
import { scrubDamage, type ScrubDamage } from './scrub-damage.js';
import { TargetSession, type SourceResult, type Task } from '../session/target-session.js';

/** Without --full, the contents of this many files (at most this many bytes) are compared, chosen at random. */
const SAMPLE_FILES = 200;
const SAMPLE_BYTES = 256 * 1024 ** 2;

export interface VerifySourceReport extends SourceResult {
  /** the pair compared: the newest snapshot present on both sides */
  snapshot?: string;
  differences: Difference[];
  /** files whose contents were compared by checksum */
  checksummed?: number;
}

export interface VerifyReport {
  ok: boolean;
  full: boolean;
  sources: VerifySourceReport[];
  /** files: those a damaged block belongs to; oneOf: one of these is damaged (btrfs cannot tell which); stripes: the damaged places the kernel logged */
  scrub?: { bytes: number; csumErrors: number; readErrors: number; uncorrectable: number } & ScrubDamage;
  mdCheck?: { array: string; mismatches: number };
  error?: string;
  fix?: string;
  exitCode: number;
}

const commands = {
  /** compare without copying: -a times, modes, owners; -H hard links; -A ACLs; -X xattrs; names escaped as \#ooo (core/itemize.ts) */
  compare: (from: string, to: string, checksum: boolean, listOnStdin = false): Argv => [
    'rsync',
    [
      '--dry-run',
      '--archive',
      '--hard-links',
      '--acls',
      '--xattrs',
      '--delete',
      '--itemize-changes',
      ...(checksum ? ['--checksum'] : []),
      ...(listOnStdin ? ['--from0', '--files-from=-'] : []),
      '--',
      `${from}/`,
      `${to}/`,
    ],
  ],
  scrubStart: (mp: string): Argv => ['btrfs', ['scrub', 'start', '--', mp]],
  scrubStatus: (mp: string): Argv => ['btrfs', ['scrub', 'status', '-R', '--', mp]],
  kernelLog: (): Argv => ['dmesg', []],
};
export { commands as verifyCommands };

/**
 * verify: per source, the newest pair compared (tree, types, sizes, modes, owners,
 * times, symlinks, hard links, ACLs, xattrs; contents of a random sample, or all with
 * --full); then a scrub of the backup filesystem (checksum errors with the files they
 * hit) and, on RAID1, md's check with its mismatch count. Reads only.
 */
export async function runVerify(opts: {
  config: VaultConfig;
  sources: SourceConfig[];
  runner: Runner;
  mode: OutputMode;
  full: boolean;
  scrub: boolean;
  signal?: AbortSignal;
}): Promise<VerifyReport> {
  const { config, runner } = opts;
  const reports: VerifySourceReport[] = opts.sources.map((s) => ({
    source: s.path,
    name: s.name,
    status: 'not-run',
    warnings: [],
    differences: [],
  }));
  const report: VerifyReport = { ok: false, full: opts.full, sources: reports, exitCode: ExitCode.ok };
  const session = new TargetSession(config, runner, opts.sources, reports, { signal: opts.signal, verb: 'verified' });

  await session.run(
    [
      ...reports.map((r) =>
        session.sourceTask(r, `Compare the newest backup of ${r.source}`, async (source, task) => {
          const mount = session.targetMount!;
          const snapDir = source.snapshotDir;
          const targetDir = join(mount.mountPoint, source.name);
          const snaps = snapshotsIn(await session.listings.get(source.mount.mountPoint)!, snapDir);
          const pair = chooseParent({
            source: snaps,
            target: childrenOf(await session.targetListing(), targetDir).filter(isCompleteCopy),
          });
          if (pair.kind !== 'incremental')
            throw new TargetError(`${r.source} has no backup on this disk to verify`, 'run: btrfs-vault backup');
          r.snapshot = pair.parent;
          const from = join(snapDir, pair.parent);
          const to = join(targetDir, pair.targetName);
          task.output = `comparing ${from} with ${to}`;
          r.differences = parseItemize((await runner.query(commands.compare(from, to, opts.full))).stdout);
          if (!opts.full) {
            const sample = sampleFiles(from);
            r.checksummed = sample.length;
            if (sample.length > 0) {
              task.output = `checksums of ${sample.length} files chosen at random`;
              const known = new Set(r.differences.map((d) => d.path));
              // the list goes on stdin: names may hold any byte but NUL, so NUL ends each
              const found = parseItemize(
                (
                  await runner.query(commands.compare(from, to, true, true), {
                    input: Buffer.concat(sample.flatMap((p) => [p, Buffer.of(0)])),
                  })
                ).stdout,
              );
              r.differences.push(...found.filter((d) => !known.has(d.path)));
            }
          }
          task.title = `${r.source}: ${pair.parent} ${r.differences.length === 0 ? `is equal on both sides${opts.full ? '' : ` (contents of ${r.checksummed} files compared)`}` : `DIFFERS in ${r.differences.length} place(s)`}`;
          if (r.differences.length > 0) {
            throw new VaultError(
              `the backup ${to} differs from the snapshot ${from}:\n${r.differences.map((d) => `  ${d.path}: ${d.what}`).join('\n')}`,
              ExitCode.failed,
              'the backup was changed after it was made, or the disk is failing: run btrfs-vault verify --full, check the disk (btrfs device stats), and make a new full backup of this source into a fresh folder',
            );
          }
        }),
      ),
      {
        title: 'Scrub the backup filesystem',
        enabled: () => opts.scrub && session.targetMount !== undefined && session.fatal === undefined,
        task: async (_c: unknown, task: Task) => {
          report.scrub = await scrub(
            runner,
            session.targetMount!,
            () => session.targetListing(),
            (t) => (task.output = t),
          );
          const s = report.scrub;
          task.title = `Scrub: ${formatBytes(s.bytes)} read, ${s.csumErrors + s.readErrors + s.uncorrectable === 0 ? 'no errors' : `${s.csumErrors} checksum, ${s.readErrors} read, ${s.uncorrectable} uncorrectable error(s)`}`;
        },
      },
      {
        title: `Check the mirror ${config.target.array}`,
        enabled: () =>
          opts.scrub && hasLayer(config, raidLayer) && session.targetMount !== undefined && session.fatal === undefined,
        task: async (_c: unknown, task: Task) => {
          const mismatches = await mdCheck(runner, config.target.array, (t) => (task.output = t));
          report.mdCheck = { array: config.target.array, mismatches };
          task.title = `Mirror check: ${mismatches} mismatched sector(s)`;
        },
      },
    ],
    opts.mode,
    report,
    {
      // a damaged disk or mirror is a failure even when every comparison was equal
      adjust: (exitCode) => {
        const damaged =
          (report.scrub && report.scrub.csumErrors + report.scrub.readErrors + report.scrub.uncorrectable > 0) ||
          (report.mdCheck?.mismatches ?? 0) > 0;
        return exitCode !== ExitCode.ok ? exitCode : damaged ? ExitCode.failed : ExitCode.ok;
      },
    },
  );
  return report;
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

async function scrub(
  runner: Runner,
  mount: MountEntry,
  listing: () => Promise<readonly Subvolume[]>,
  progress: (t: string) => void,
): Promise<NonNullable<VerifyReport['scrub']>> {
  const mp = mount.mountPoint;
  // the kernel's clock at the start (a full ring buffer drops old lines, so counting lines would not do)
  const stamp = (line: string) => Number(/^\[\s*(\d+\.\d+)\]/.exec(line)?.[1] ?? -1);
  const before = Math.max(
    ...(await runner.query(commands.kernelLog(), { allowFailure: true })).stdout.split('\n').map(stamp),
  );
  await runner.run(commands.scrubStart(mp));
  let stats: Record<string, string> = {};
  for (;;) {
    const out = (await runner.query(commands.scrubStatus(mp))).stdout;
    stats = Object.fromEntries([...out.matchAll(/^\s*([a-z_]+): (\d+)$/gm)].map((m) => [m[1]!, m[2]!]));
    const total = /Total to scrub:\s+(\S+)/.exec(out)?.[1];
    // a dry-run started no scrub to wait for
    if (/Status:\s+(finished|aborted)/.test(out) || !runner.changesTakeEffect) break;
    progress(
      `${formatBytes(Number(stats.data_bytes_scrubbed ?? 0) + Number(stats.tree_bytes_scrubbed ?? 0))} of ${total ?? '?'} scrubbed`,
    );
    await new Promise((r) => setTimeout(r, 1000));
  }
  const n = (k: string) => Number(stats[k] ?? 0);
  const errors = n('csum_errors') + n('read_errors') + n('uncorrectable_errors');
  // the kernel's lines say where (this filesystem's only); the files there are resolved
  const log =
    errors === 0
      ? []
      : (await runner.query(commands.kernelLog(), { allowFailure: true })).stdout
          .split('\n')
          .filter((l) => stamp(l) > before);
  const damage =
    errors === 0
      ? { files: [], oneOf: [], stripes: 0, unresolved: 0 }
      : await scrubDamage(runner, mount, log, await listing());
  return {
    bytes: n('data_bytes_scrubbed') + n('tree_bytes_scrubbed'),
    csumErrors: n('csum_errors'),
    readErrors: n('read_errors'),
    uncorrectable: n('uncorrectable_errors'),
    ...damage,
  };
}

/** md's own check: reads both mirrors and counts the sectors that differ. */
async function mdCheck(runner: Runner, array: string, progress: (t: string) => void): Promise<number> {
  const md = await arrayKernelName(array);
  if (!md) throw new TargetError(`${array} is not running`, 'run: btrfs-vault open');
  const sys = `/sys/block/${md}/md`;
  runner.change({ op: 'set', path: `${sys}/sync_action`, text: 'check' });
  if (!runner.changesTakeEffect) return 0; // a dry-run started no check to wait for
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    if ((await mdAttribute(md, 'sync_action')) === 'idle') break;
    progress(`checking: ${await mdAttribute(md, 'sync_completed')} sectors`);
  }
  const mismatches = await mdAttribute(md, 'mismatch_cnt');
  // unreadable is not "no mismatch"
  if (!/^\d+$/.test(mismatches))
    throw new TargetError(
      `${array}: md's mismatch count could not be read after the check`,
      `look at: cat /sys/block/${md}/md/mismatch_cnt`,
    );
  return Number(mismatches);
}

/** What a person reads after the task list. */
export function verifyLines(report: VerifyReport): string[] {
  const lines: string[] = [];
  for (const r of report.sources) {
    if (r.status === 'failed') lines.push(`✖ ${r.source}: ${r.error}${r.fix ? `\n  fix: ${r.fix}` : ''}`);
  }
  const s = report.scrub;
  if (s && s.csumErrors + s.readErrors + s.uncorrectable > 0) {
    const where = [
      s.files.length ? ` in: ${s.files.join(', ')}` : '',
      s.oneOf.length ? `${s.files.length ? ';' : ''} in one of (btrfs cannot tell which): ${s.oneOf.join(', ')}` : '',
      s.unresolved ? ` (and ${s.unresolved} more damaged place(s), not resolved)` : '',
      s.stripes > 0 && s.files.length + s.oneOf.length === 0
        ? " (no file holds the damaged places: btrfs's own metadata, or space no longer in use)"
        : '',
    ].join('');
    lines.push(
      `✖ the scrub found ${s.csumErrors} checksum, ${s.readErrors} read and ${s.uncorrectable} uncorrectable error(s)${where}`,
    );
    lines.push(
      '  fix: the backup disk is damaged: check it (btrfs device stats, smartctl), replace it, and make new backups',
    );
  }
  if (report.mdCheck?.mismatches)
    lines.push(
      `✖ the two mirrors differ in ${report.mdCheck.mismatches} sector(s) of ${report.mdCheck.array}\n  fix: run: mdadm --action=repair ${report.mdCheck.array}, then verify again`,
    );
  if (report.error) lines.push(`✖ ${report.error}${report.fix ? `\nfix: ${report.fix}` : ''}`);
  if (report.ok) lines.push('all well');
  return lines;
}
