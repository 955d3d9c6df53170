import { join } from 'node:path';
import type { SourceConfig, VaultConfig } from '../../config/config.js';
import { ExitCode } from '../../core/errors.js';
import type { RetentionDecision } from '../../core/retention.js';
import { claimFolder, ownFolder, resolvedFolder } from '../../btrfs/folders.js';
import type { Runner } from '../../system/runner.js';
import { lexists } from '../../system/no-follow.js';
import type { OutputMode } from '../../ui/renderer.js';
import { pinsForRetention } from './rotation-pins.js';
import { pruneSource } from './prune-source.js';
import { TargetSession, type SourceResult } from '../session/target-session.js';

export interface PruneSourceReport extends SourceResult {
  /** per side, every snapshot of btrfs-vault's with why it is kept (no reasons: deleted) */
  snapshots?: { source: RetentionDecision[]; target: RetentionDecision[] };
  deleted: { source: string[]; target: string[] };
}

export interface PruneRunReport {
  ok: boolean;
  dryRun: boolean;
  /** false: the config has no [retention], so nothing is deleted */
  retention: boolean;
  sources: PruneSourceReport[];
  error?: string;
  fix?: string;
  exitCode: number;
}

/** prune = the backup run's frame (lock, open, close) with retention as each source's work. */
export async function runPrune(opts: {
  config: VaultConfig;
  sources: SourceConfig[];
  runner: Runner;
  mode: OutputMode;
  signal?: AbortSignal;
}): Promise<PruneRunReport> {
  const { config, runner } = opts;
  const reports: PruneSourceReport[] = opts.sources.map((s) => ({
    source: s.path,
    name: s.name,
    status: 'not-run',
    warnings: [],
    deleted: { source: [], target: [] },
  }));
  const report: PruneRunReport = {
    ok: false,
    dryRun: !runner.changesTakeEffect,
    retention: config.retention !== undefined,
    sources: reports,
    exitCode: ExitCode.ok,
  };
  const session = new TargetSession(config, runner, opts.sources, reports, { signal: opts.signal, verb: 'pruned' });

  await session.run(
    [
      ...reports.map((r) =>
        session.sourceTask(r, `Prune ${r.source}`, async (source, task) => {
          const targetMount = session.targetMount!;
          const targetDir = join(targetMount.mountPoint, source.name);
          // nothing was ever backed up: nothing to prune, and no folder is made for it
          if (!lexists(targetDir) && !lexists(source.snapshotDir)) {
            task.title = `${r.source}: no backups yet`;
            return;
          }
          const folders = { mounts: session.mounts };
          const dst = await ownFolder(runner, targetDir, {
            side: 'target',
            mount: targetMount,
            exactMount: true,
            ...folders,
          });
          const owner = { host: config.host, source: source.real };
          claimFolder(runner, dst, 'target', { ...owner, snapshots: resolvedFolder(source.snapshotDir) });
          const snap = await ownFolder(
            runner,
            source.snapshotDir,
            { side: 'source', mount: source.mount, ...folders },
            true,
          );
          claimFolder(runner, snap, 'source', owner);
          const sourceListing = await session.sourceListing(source.mount);
          const rotation = pinsForRetention(config, { name: source.name, path: r.source }, (n) =>
            sourceListing.some((s) => s.path === join(snap, n)),
          );
          r.warnings.push(...rotation.warnings);
          const out = await pruneSource({
            runner,
            snapDir: snap,
            targetDir: dst,
            sourceListing,
            targetListing: await session.targetListing(),
            rules: config.retention ?? {},
            otherPins: rotation.otherPins,
            progress: (text) => (task.output = text),
            // the backup disk's room is what a backup needs; the source's comes back in the background
            freed: (side, ids) => {
              if (side === 'target') session.frees.add(targetMount.mountPoint, ids);
            },
          });
          r.snapshots = { source: out.source.decisions, target: out.target.decisions };
          r.deleted = { source: out.source.deleted, target: out.target.deleted };
          const n = r.deleted.source.length + r.deleted.target.length;
          task.title = `${r.source}: ${runner.changesTakeEffect ? 'deleted' : 'would delete'} ${r.deleted.source.length} snapshot(s) and ${r.deleted.target.length} backup(s)${n === 0 ? ' (nothing to delete)' : ''}`;
        }),
      ),
    ],
    opts.mode,
    report,
  );
  return report;
}

/** What a person reads: per source and side, each snapshot, kept (and why) or deleted. */
export function pruneLines(report: PruneRunReport): string[] {
  const lines: string[] = [];
  if (!report.retention)
    lines.push('no [retention] in the config: every snapshot is kept (see README, "Configuration")');
  const gone = report.dryRun ? 'would be deleted' : 'deleted';
  for (const r of report.sources) {
    if (r.status === 'failed') lines.push(`✖ ${r.source}: ${r.error}${r.fix ? `\n  fix: ${r.fix}` : ''}`);
    for (const w of r.warnings) lines.push(`! ${r.source}: ${w}`);
    if (!r.snapshots) continue;
    for (const side of ['source', 'target'] as const) {
      lines.push('', `${r.source}, ${side === 'source' ? 'snapshots on the source' : 'backups on the target'}:`);
      for (const d of r.snapshots[side]) lines.push(`  ${d.name}  ${d.keep ? `kept: ${d.reasons.join(', ')}` : gone}`);
    }
  }
  if (report.error) lines.push(`✖ ${report.error}${report.fix ? `\nfix: ${report.fix}` : ''}`);
  return lines;
}
