import { resolve } from 'node:path';
import { UserError } from '../core/errors.js';
import { checkCalendar, install, plugMatch, remove, scheduleFiles, scheduleStatus, thisProgram } from '../flows/schedule.js';
import { loadFor, makeRunner } from './context.js';

interface Opts {
  config: string;
  every?: string;
  onPlug?: boolean;
  root?: string;
  dryRun?: boolean;
  json?: boolean;
}

export async function scheduleCommand(action: 'install' | 'remove' | 'status', opts: Opts): Promise<number> {
  const config = await loadFor(opts);
  const runner = makeRunner(opts);
  const root = resolve(opts.root ?? '/');
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (action === 'status') {
    const st = await scheduleStatus(runner, config.file);
    if (opts.json) out(JSON.stringify({ ok: true, ...st }, null, 2));
    else {
      out(`timer: ${st.installed.timer ? 'installed' : 'not installed'}; on plug-in: ${st.installed.onPlug ? 'installed' : 'not installed'}`);
      if (!st.systemd) out('systemd does not answer here (not running as PID 1?)');
      else out(`next run: ${st.nextRun ?? '-'}; last run: ${st.lastRun ?? '-'}; last result: ${st.lastResult ?? '-'}`);
    }
    return 0;
  }
  if (action === 'remove') {
    const { removed, notOurs } = await remove(runner, config.file, root);
    out(removed.length ? `removed:\n  ${removed.join('\n  ')}` : 'nothing was installed');
    if (notOurs.length) out(`left alone (not written by btrfs-vault):\n  ${notOurs.join('\n  ')}`);
    return 0;
  }
  const every = opts.every ?? 'hourly';
  await checkCalendar(runner, every);
  let plug;
  if (opts.onPlug) {
    plug = await plugMatch(runner, config.target);
    if (!plug) throw new UserError(`--on-plug needs to know the backup disk, and ${config.target.partition} is not attached`, 'plug in the backup disk, then run this again');
  }
  const spec = { configFile: config.file, every, plug, program: thisProgram(), root };
  // shown before anything is written
  for (const f of scheduleFiles(spec)) out(`# ${f.path}\n${f.text}`);
  // a dry-run is the same install through the dry-run runner: what it would write and remove, printed
  const { removed } = await install(runner, spec);
  if (removed.length) out(`${opts.dryRun ? 'would remove (on plug-in not asked for)' : 'removed (on plug-in was not asked for this time)'}:\n  ${removed.join('\n  ')}`);
  out(opts.dryRun ? 'dry run: nothing was written' : `installed: backups ${every}${plug ? ', and when the backup disk is plugged in' : ''}`);
  return 0;
}
