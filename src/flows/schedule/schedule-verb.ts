import type { VaultConfig } from '../../config/config.js';
import { UserError } from '../../core/errors.js';
import type { Runner } from '../../system/runner.js';
import { checkCalendar, install, plugMatch, remove, scheduleFiles, scheduleStatus, thisProgram } from './schedule.js';
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
        `timer: ${st.installed.timer ? 'installed' : 'not installed'}; on plug-in: ${st.installed.onPlug ? 'installed' : 'not installed'}`,
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
  const every = input.every ?? 'hourly';
  await checkCalendar(runner, every);
  let plug;
  if (input.onPlug) {
    plug = await plugMatch(runner, config.target);
    if (!plug)
      throw new UserError(
        `--on-plug needs to know the backup disk, and ${config.target.partition} is not attached`,
        'plug in the backup disk, then run this again',
      );
  }
  const spec = { configFile: config.file, every, plug, program: thisProgram(), root };
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
      : `installed: backups ${every}${plug ? ', and when the backup disk is plugged in' : ''}`,
  );
  return report({ dryRun, every, onPlug: Boolean(plug), files: files.map((f) => f.path), removed });
}
