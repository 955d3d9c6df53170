import type { NamedTargetConfig, VaultConfig } from '../../config/config.js';
import { targetsOf } from '../../config/target-view.js';
import { UserError } from '../../core/errors.js';
import type { Runner } from '../../system/runner.js';
import {
  checkCalendar,
  install,
  plugMatch,
  remove,
  scheduleFiles,
  scheduleStatus,
  thisProgram,
  type PlugRule,
} from './schedule.js';
import { jsonText } from '../../ui/json-output.js';

export interface ScheduleVerbInput {
  runner: Runner;
  config: VaultConfig;
  action: 'install' | 'remove' | 'status';
  /** a systemd calendar expression; hourly when not given */
  every?: string;
  onPlug: boolean;
  /** the root the units and the rule are written under (/ but in tests) */
  root: string;
  json: boolean;
  /** stdout: the lines a person reads, or with --json the one JSON object */
  out: (line: string) => void;
  /** stderr: with --json, the lines a person reads (the units shown before they are written) */
  log: (line: string) => void;
}

/** schedule install / remove / status: what is installed, shown before it is written. */
export async function scheduleVerb(input: ScheduleVerbInput): Promise<number> {
  const { runner, config, root } = input;
  const out = input.json ? input.log : input.out;
  const report = (doc: object) => {
    if (input.json) input.out(jsonText({ ok: true, ...doc, exitCode: 0 }).trimEnd());
    return 0;
  };
  if (input.action === 'status') {
    const st = await scheduleStatus(runner, config.file);
    if (input.json) return report(st);
    else {
      out(
        `timer: ${st.installed.timer ? 'installed' : 'not installed'}; on plug-in: ${st.installed.onPlug ? 'installed' : 'not installed'}${config.serve || st.installed.serve ? `; server (status and prune of the serve root): ${st.installed.serve ? 'installed' : 'not installed'}` : ''}`,
      );
      if (!st.systemd) out('systemd does not answer here (not running as PID 1?)');
      else out(`next run: ${st.nextRun ?? '-'}; last run: ${st.lastRun ?? '-'}; last result: ${st.lastResult ?? '-'}`);
    }
    return 0;
  }
  if (input.action === 'remove') {
    const { removed, notOurs } = await remove(runner, config.file, root);
    out(removed.length ? `removed:\n  ${removed.join('\n  ')}` : 'nothing was installed');
    if (notOurs.length) out(`left alone (not written by btrfs-vault):\n  ${notOurs.join('\n  ')}`);
    return report({ dryRun: !runner.changesTakeEffect, removed, notOurs });
  }
  // a server's config ([serve], no target): its own units alone, daily unless told
  const serverOnly = isServerOnly(config);
  const serveRoot = serverOnly ? serveRootOf(config) : config.serve?.root;
  const every = input.every ?? (serverOnly ? 'daily' : 'hourly');
  await checkCalendar(runner, every);
  if (serverOnly && input.onPlug)
    throw new UserError(
      `${config.file} is a backup server's ([serve], no target): it has no backup disk to plug in`,
      'leave out --on-plug',
    );
  const plug = input.onPlug ? await plugRules(runner, config, out) : undefined;
  const spec = {
    configFile: config.file,
    every,
    plugs: plug?.rules,
    away: plug?.away,
    program: thisProgram(),
    root,
    backup: !serverOnly,
    ...(serveRoot === undefined ? {} : { serveRoot }),
  };
  const plugs = plug?.rules;
  // shown before anything is written
  const files = scheduleFiles(spec);
  for (const f of files) out(`# ${f.path}\n${f.text}`);
  // a dry-run is the same install through the dry-run runner: what it would write and remove, printed
  const { removed } = await install(runner, spec);
  const dryRun = !runner.changesTakeEffect;
  if (removed.length)
    out(
      `${dryRun ? 'would remove (on plug-in not asked for)' : 'removed (on plug-in was not asked for this time)'}:\n  ${removed.join('\n  ')}`,
    );
  out(
    dryRun
      ? 'dry run: nothing was written'
      : serverOnly
        ? `installed: status --check and prune of ${serveRoot} ${every}`
        : `installed: backups ${every}${serveRoot === undefined ? '' : `, status --check and prune of ${serveRoot}`}${plugs ? `, and when ${plugs.length > 1 || plugs[0]?.target !== undefined ? `a backup disk (${plugs.map((p) => p.target).join(', ')})` : 'the backup disk'} is plugged in` : ''}`,
  );
  return report({ dryRun, every, onPlug: Boolean(plug), files: files.map((f) => f.path), removed });
}

/**
 * A rule per backup disk: with one disk, as it always was (its run is the config's
 * run); with several, each disk's rule starts a run for that disk alone. A disk udev
 * cannot be told about now (away, and nothing on the host records its UUID) is named;
 * only when that is every disk is it refused.
 */
async function plugRules(
  runner: Runner,
  config: VaultConfig,
  out: (line: string) => void,
): Promise<{ rules: PlugRule[]; away: string[] }> {
  const targets = targetsOf(config);
  const several = targets.length > 1;
  const rules: PlugRule[] = [];
  const away: NamedTargetConfig[] = [];
  for (const t of targets) {
    const match = await plugMatch(runner, t);
    if (match) rules.push({ ...(several ? { target: t.name } : {}), match });
    else away.push(t);
  }
  if (rules.length === 0)
    throw new UserError(
      `--on-plug needs to know the backup disk, and ${away.map((t) => t.partition).join(', ')} ${away.length > 1 ? 'are' : 'is'} not attached`,
      several ? 'plug in a backup disk, then run this again' : 'plug in the backup disk, then run this again',
    );
  for (const t of away)
    out(
      `on plug-in: the backup disk ${t.name} (${t.partition}) is not attached, so udev cannot be told its UUID now; its rule from an earlier install (if any) stays; plug it in and run this again`,
    );
  return { rules, away: several ? away.map((t) => t.name) : [] };
}

/** [serve] and no target (disk or server) nor source: the config of a backup server alone */
function isServerOnly(config: VaultConfig): boolean {
  return (
    config.serve !== undefined &&
    (config.targets ?? []).length === 0 &&
    (config.remotes ?? []).length === 0 &&
    config.sources.length === 0
  );
}

function serveRootOf(config: VaultConfig): string {
  const root = config.serve?.root;
  if (root === undefined)
    throw new UserError(
      `${config.file} has [serve] but no root = "..." in it, so the server's timer would not know its serve root`,
      'add root = "/srv/btrfs-vault" (the folder serve --init made) to [serve]',
    );
  return root;
}
