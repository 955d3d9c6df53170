import boxen from 'boxen';
import { gib, type DiskAssessment } from '../core/eligibility.js';
import type { PlanStep, SetupSpec } from '../flows/setup-plan.js';
import { formatArgv } from '../system/runner.js';

export function diskLine(d: DiskAssessment): string {
  return `${d.byId ?? d.path}  ${d.model}  ${d.serial || '-'}  ${gib(d.size)}  ${d.transport}${d.removable ? ' removable' : ''}`;
}

/** The plan as a person reads it before typing the serial: a box, then every command. */
export function planSummary(spec: SetupSpec, disk: DiskAssessment, steps: PlanStep[]): string {
  const destroyed = spec.mode === 'new-disk' ? (disk.signatures.length > 0 ? disk.signatures : ['nothing (the disk looks empty)']) : ['nothing: this host is added to the existing backup disk'];
  const body = [
    `disk         ${disk.byId ?? disk.path} (${disk.path})`,
    `             ${disk.model}, serial ${disk.serial || '-'}, ${gib(disk.size)}, ${disk.transport}`,
    `mode         ${spec.mode === 'new-disk' ? 'new backup disk' : 'second host on an existing backup disk'}`,
    `host volume  ${spec.volumeGroup}/${spec.host}, ${spec.size === 'all' ? 'all free space' : spec.size}`,
    `mount point  ${spec.mountpoint} (btrfs${spec.compression === 'none' ? '' : `, compress=${spec.compression}`})`,
    `config       ${spec.configFile}`,
    `destroys     ${destroyed.join('\n             ')}`,
  ].join('\n');
  const box = boxen(body, { title: 'btrfs-vault setup', padding: { left: 1, right: 1, top: 0, bottom: 0 }, borderStyle: 'round' });
  const commands = steps.flatMap((s) => [`# ${s.title}`, ...s.commands.map((c) => `  ${formatArgv(c)}${isSecretInput(c) ? '   (passphrase on stdin)' : ''}`), ...(s.writes ?? []).map((w) => `  write ${w}`)]);
  return `${box}\n${commands.join('\n')}`;
}

function isSecretInput([file, args]: PlanStep['commands'][number]): boolean {
  return file === 'cryptsetup' && (args[0] === 'luksFormat' || args[0] === 'luksAddKey');
}
