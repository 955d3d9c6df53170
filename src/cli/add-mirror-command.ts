import { loadConfig } from '../config/load.js';
import { confirmationWords } from '../core/eligibility.js';
import { UserError } from '../core/errors.js';
import { findDisk, ownStackDevices, surveyDisks } from '../flows/disk-survey.js';
import { checkMirrorDisk, describeSync, mirrorCommands, planMirror, runAddMirror } from '../flows/add-mirror.js';
import { raidLayer } from '../stack/raid.js';
import { readMounts } from '../system/mounts.js';
import { formatArgv } from '../system/runner.js';
import { outputMode } from '../ui/renderer.js';
import { reportError } from './exit.js';
import { makeRunner } from './context.js';

export interface AddMirrorOptions {
  config: string;
  disk?: string;
  confirm?: string;
  wipeExisting?: boolean;
  wait: boolean;
  dryRun?: boolean;
}

export async function addMirrorCommand(opts: AddMirrorOptions): Promise<number> {
  try {
    const config = await loadConfig(opts.config);
    if (!config.target.layers.includes('raid')) throw new UserError(`${config.file} has no raid layer, so there is no mirror to add to`, 'add-mirror is for the RAID1 backup stack');
    const runner = makeRunner(opts);
    const unattended = opts.disk !== undefined;
    if (!unattended && !process.stdin.isTTY) throw new UserError('add-mirror asks questions, and there is no terminal', 'give --disk DEV --confirm SERIAL');
    // the array runs for the add (a dry-run only prints its assembly)
    const stack = { runner, config, mounts: readMounts };
    await raidLayer.open(stack);
    const members = await raidLayer.members(stack);
    const ours = await ownStackDevices(config.target.array, config.target.luksName, config.target.volumeGroup, config.host, config.target.mountpoint);
    const survey = await surveyDisks(runner, config.dir, ours);
    const memberDisks = survey.devices.filter((d) => (d.children ?? []).some((c) => members.partitions.includes(c.path))).map((d) => d.path);
    const failed = members.failed;
    const prompts = unattended ? undefined : await import('../ui/prompts.js');
    const disk = unattended ? await findDisk(survey, opts.disk!) : await prompts!.askDisk(survey.disks.filter((d) => !memberDisks.includes(d.path)), 'for the second mirror');
    checkMirrorDisk(survey, disk, memberDisks);
    const partitions = (survey.devices.find((d) => d.path === disk.path)?.children ?? []).filter((c) => c.type === 'part').map((c) => c.path);
    if (disk.signatures.length > 0) {
      const wipe = unattended ? Boolean(opts.wipeExisting) : await prompts!.askWipe(disk);
      if (!wipe) throw new UserError(`${disk.byId ?? disk.path} is not empty; it carries:\n  ${disk.signatures.join('\n  ')}`, 'if all of that may be destroyed, add --wipe-existing');
    }
    const plan = planMirror(stack, disk, partitions, disk.signatures.length > 0, failed);
    process.stdout.write(`Adding ${disk.byId ?? disk.path} (${disk.model}, serial ${disk.serial || '-'}) to ${config.target.array}:\n${mirrorCommands(plan).map((c) => `  ${formatArgv(c.argv)}`).join('\n')}\n`);
    if (opts.dryRun) return 0;
    const words = confirmationWords(disk);
    const typed = unattended ? opts.confirm ?? '' : await prompts!.askConfirmation(words);
    if (!words.includes(typed.trim())) throw new UserError(`the confirmation "${typed}" does not match the disk (${words.join(' or ')}); nothing was changed`, 'give --confirm with the disk\'s serial');
    const s = await runAddMirror({ runner, config, plan, wait: opts.wait, mode: outputMode({}) });
    process.stdout.write(s ? `${config.target.array}: ${s.action === 'idle' && s.degraded === 0 ? 'in sync [UU]' : describeSync(s)}\n` : '');
    if (!opts.wait) process.stdout.write('the resync goes on in the background: btrfs-vault open (or cat /proc/mdstat) shows its progress\n');
    return 0;
  } catch (err) {
    return reportError(err);
  }
}
