import boxen from 'boxen';
import type { DiskAssessment } from '../core/eligibility.js';
import { formatBytes } from './format.js';
import type { LayerName } from '../config/defaults.js';
import { formatArgv } from '../system/runner.js';
import type { CreateMode, CreateStep } from '../stack/layer.js';
import { layerHandlers } from '../stack/layers.js';

/** What the summary shows of setup's spec (flows' SetupSpec has it all). */
export interface SummarySpec {
  mode: CreateMode;
  layers: readonly LayerName[];
  host: string;
  size: string;
  volumeGroup: string;
  keyfile: string;
  mountpoint: string;
  compression: string;
  configFile: string;
  /** reconnect: the backup folders found on the host's volume */
  existing?: { folders: readonly FoundFolder[] };
}

interface FoundFolder {
  name: string;
  source?: string;
  latest?: string;
}

export function diskLine(d: DiskAssessment): string {
  return `${d.byId ?? d.path}  ${d.model}  ${d.serial || '-'}  ${formatBytes(d.size)}  ${d.transport}${d.removable ? ' removable' : ''}`;
}

/** The plan as a person reads it before typing the serial: a box, then every command. */
export function planSummary(spec: SummarySpec, disk: DiskAssessment, steps: readonly CreateStep[]): string {
  const destroyed =
    spec.mode === 'new-disk'
      ? disk.signatures.length > 0
        ? disk.signatures
        : ['nothing (the disk looks empty)']
      : spec.mode === 'second-host'
        ? ['nothing: this host is added to the existing backup disk']
        : [
            'nothing. Nothing on the disk is changed: no volume, filesystem or',
            "backup is made or touched; only a LUKS keyslot for this host's",
            `new keyfile ${spec.keyfile} is added`,
          ];
  const reconnect = spec.mode === 'reconnect';
  const folders = spec.existing?.folders ?? [];
  const body = [
    `disk         ${disk.byId ?? disk.path} (${disk.path})`,
    `             ${disk.model}, serial ${disk.serial || '-'}, ${formatBytes(disk.size)}, ${disk.transport}`,
    `mode         ${MODES[spec.mode]}`,
    `layers       ${['partition', ...spec.layers, 'btrfs'].join(' -> ')}${spec.layers.length === 0 ? ' (a plain disk: not encrypted, no mirror)' : ''}`,
    ...layerHandlers(spec.layers).flatMap((h) => h.summary?.(spec) ?? []),
    ...(reconnect
      ? [
          `backups      ${!spec.existing ? 'not looked at again (a resumed setup; btrfs-vault list shows them after it)' : folders.length === 0 ? 'none yet (the volume holds no backup folder)' : folders.map(folderLine).join('\n             ')}`,
          `token        the one on the volume is taken as this host's: the passphrase`,
          `             that opened the disk is the proof it is yours`,
        ]
      : []),
    `mount point  ${spec.mountpoint} (btrfs${spec.compression === 'none' ? '' : `, compress=${spec.compression}`})`,
    `config       ${spec.configFile}`,
    `destroys     ${destroyed.join('\n             ')}`,
  ].join('\n');
  const box = boxen(body, {
    title: 'btrfs-vault setup',
    padding: { left: 1, right: 1, top: 0, bottom: 0 },
    borderStyle: 'round',
  });
  const commands = steps.flatMap((s) => [
    `# ${s.title}`,
    ...s.commands.map((c) => `  ${formatArgv(c.argv)}${c.input === 'passphrase' ? '   (passphrase on stdin)' : ''}`),
    ...(s.writes ?? []).map((w) => `  write ${w}`),
  ]);
  return `${box}\n${commands.join('\n')}`;
}

const MODES: Record<CreateMode, string> = {
  'new-disk': 'new backup disk',
  'second-host': 'second host on an existing backup disk',
  reconnect: "reconnect: this host's volume is on the disk already (the machine was rebuilt)",
};

function folderLine(f: FoundFolder): string {
  return `${f.name}${f.source ? ` (${f.source})` : ''}${f.latest ? `, latest ${f.latest}` : ', no complete backup'}`;
}
