import type { SourceConfig, VaultConfig } from '../../config/config.js';
import { ExitCode, TargetError } from '../../core/errors.js';
import type { Difference } from '../../core/itemize.js';
import type { Subvolume } from '../../btrfs/subvolumes.js';
import type { MountEntry } from '../../core/mountinfo.js';
import { arrayKernelName, mdAttribute } from '../../stack/array-state.js';
import { raidLayer } from '../../stack/raid.js';
import { hasLayer } from '../../stack/stack.js';
import type { Runner } from '../../system/runner.js';
import { formatBytes } from '../../ui/format.js';
import type { OutputMode, TaskSpec } from '../../ui/renderer.js';
import { scrubDamage, type ScrubDamage } from './scrub-damage.js';
import { TargetSession, type SourceResult, type Task } from '../session/target-session.js';
import { compareNewest } from './compare-newest.js';
import { verifyCommands } from './verify-commands.js';

export interface VerifyOptions {
  config: VaultConfig;
  sources: SourceConfig[];
  runner: Runner;
  mode: OutputMode;
  full: boolean;
  scrub: boolean;
  signal?: AbortSignal;
}

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

export { verifyCommands };

/**
 * verify: per source, the newest pair compared (tree, types, sizes, modes, owners,
 * times, symlinks, hard links, ACLs, xattrs; contents of a random sample, or all with
 * --full); then a scrub of the backup filesystem (checksum errors with the files they
 * hit) and, on RAID1, md's check with its mismatch count. Reads only.
 */
export async function runVerify(opts: VerifyOptions): Promise<VerifyReport> {
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
  const compares = reports.map((r) =>
    session.sourceTask(r, `Compare the newest backup of ${r.source}`, (source, task) =>
      compareNewest(session, opts, r, source, task),
    ),
  );
  await session.run(
    [...compares, scrubTask(session, opts, report), mirrorTask(session, opts, report)],
    opts.mode,
    report,
    {
      // a damaged disk or mirror is a failure even when every comparison was equal
      adjust: (exitCode) => (exitCode !== ExitCode.ok ? exitCode : damaged(report) ? ExitCode.failed : ExitCode.ok),
    },
  );
  return report;
}

function damaged(report: VerifyReport): boolean {
  return (
    (report.scrub && report.scrub.csumErrors + report.scrub.readErrors + report.scrub.uncorrectable > 0) ||
    (report.mdCheck?.mismatches ?? 0) > 0
  );
}

/** The backup filesystem scrubbed, its damage resolved to files. */
function scrubTask(session: TargetSession<VerifySourceReport>, opts: VerifyOptions, report: VerifyReport): TaskSpec {
  return {
    title: 'Scrub the backup filesystem',
    enabled: () => opts.scrub && session.targetMount !== undefined && session.fatal === undefined,
    task: async (_c: unknown, task: Task) => {
      report.scrub = await scrub(
        opts.runner,
        session.targetMount!,
        () => session.targetListing(),
        (t) => (task.output = t),
      );
      const s = report.scrub;
      task.title = `Scrub: ${formatBytes(s.bytes)} read, ${s.csumErrors + s.readErrors + s.uncorrectable === 0 ? 'no errors' : `${s.csumErrors} checksum, ${s.readErrors} read, ${s.uncorrectable} uncorrectable error(s)`}`;
    },
  };
}

/** On RAID1, md's check of the two mirrors. */
function mirrorTask(session: TargetSession<VerifySourceReport>, opts: VerifyOptions, report: VerifyReport): TaskSpec {
  const { config, runner } = opts;
  return {
    title: `Check the mirror ${config.target.array}`,
    enabled: () =>
      opts.scrub && hasLayer(config, raidLayer) && session.targetMount !== undefined && session.fatal === undefined,
    task: async (_c: unknown, task: Task) => {
      const mismatches = await mdCheck(runner, config.target.array, (t) => (task.output = t));
      report.mdCheck = { array: config.target.array, mismatches };
      task.title = `Mirror check: ${mismatches} mismatched sector(s)`;
    },
  };
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
    ...(await runner.query(verifyCommands.kernelLog(), { allowFailure: true })).stdout.split('\n').map(stamp),
  );
  await runner.run(verifyCommands.scrubStart(mp));
  let stats: Record<string, string> = {};
  // looks soon, then once a second: a small filesystem's scrub is done in a fraction of one
  for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
    const out = (await runner.query(verifyCommands.scrubStatus(mp))).stdout;
    stats = Object.fromEntries([...out.matchAll(/^\s*([a-z_]+): (\d+)$/gm)].map((m) => [m[1]!, m[2]!]));
    const total = /Total to scrub:\s+(\S+)/.exec(out)?.[1];
    // a dry-run started no scrub to wait for
    if (/Status:\s+(finished|aborted)/.test(out) || !runner.changesTakeEffect) break;
    progress(
      `${formatBytes(Number(stats.data_bytes_scrubbed ?? 0) + Number(stats.tree_bytes_scrubbed ?? 0))} of ${total ?? '?'} scrubbed`,
    );
    await new Promise((r) => setTimeout(r, wait));
  }
  const n = (k: string) => Number(stats[k] ?? 0);
  const errors = n('csum_errors') + n('read_errors') + n('uncorrectable_errors');
  // the kernel's lines say where (this filesystem's only); the files there are resolved
  const log =
    errors === 0
      ? []
      : (await runner.query(verifyCommands.kernelLog(), { allowFailure: true })).stdout
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
