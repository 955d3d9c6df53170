// Which disks may become a backup disk, and what setup would destroy on them. Pure:
// the input is `lsblk -J -b` output (plus by-id names), the output reasons are shown
// to the user as they are.

import { formatBytes } from './byte-size.js';

export interface BlockDevice {
  name: string;
  path: string;
  type: string;
  size: number;
  ro: boolean;
  rm: boolean;
  tran: string | null;
  model: string | null;
  serial: string | null;
  fstype: string | null;
  label?: string | null;
  partlabel?: string | null;
  mountpoints: (string | null)[];
  'log-sec': number;
  children?: BlockDevice[];
}

export const LSBLK_COLUMNS = 'NAME,PATH,TYPE,SIZE,RO,RM,TRAN,MODEL,SERIAL,FSTYPE,LABEL,PARTLABEL,MOUNTPOINTS,LOG-SEC';

export interface DiskAssessment {
  path: string;
  byId?: string;
  model: string;
  serial: string;
  size: number;
  transport: string;
  removable: boolean;
  logicalSectorSize: number;
  eligible: boolean;
  /** why it is refused (empty when eligible) */
  reasons: string[];
  /** what setup would destroy on it */
  signatures: string[];
  /** the parts of the disk, for the summary */
  partitions: string[];
}

export interface AssessContext {
  minBytes: number;
  /** mount points whose disks must never be offered: /, /boot, the config folder's mount */
  protectedMounts: string[];
  /** /dev/sdX -> /dev/disk/by-id/... (the most stable name) */
  byId: Record<string, string>;
  /** this host's own backup stack (a resumed setup, a second host): not a reason to refuse */
  ours?: { devices: string[]; mounts: string[] };
}

export function parseLsblk(text: string): BlockDevice[] {
  return (JSON.parse(text) as { blockdevices: BlockDevice[] }).blockdevices;
}

function descendants(dev: BlockDevice): BlockDevice[] {
  return (dev.children ?? []).flatMap((c) => [c, ...descendants(c)]);
}

export function assessDisks(devices: readonly BlockDevice[], ctx: AssessContext): DiskAssessment[] {
  return devices.filter((d) => d.type === 'disk').map((disk) => assessDisk(disk, ctx));
}

export function assessDisk(disk: BlockDevice, ctx: AssessContext): DiskAssessment {
  const reasons: string[] = [];
  const all = [disk, ...descendants(disk)];
  if (disk.ro) reasons.push('read-only device');
  if (disk.size < ctx.minBytes)
    reasons.push(`too small: ${formatBytes(disk.size)}, a backup disk needs at least ${formatBytes(ctx.minBytes)}`);
  for (const d of all) {
    if (ctx.ours?.devices.includes(d.path)) continue;
    for (const mp of d.mountpoints.filter((m): m is string => Boolean(m) && !ctx.ours?.mounts.includes(m!))) {
      if (mp === '[SWAP]') reasons.push(`${d.path} is active swap`);
      else if (ctx.protectedMounts.includes(mp)) reasons.push(`holds ${mp} (${d.path}), which this system runs from`);
      else reasons.push(`holds the mounted filesystem ${mp} (${d.path})`);
    }
    if (d !== disk && /^raid\d+$|^linear$/.test(d.type)) reasons.push(`member of the running array ${d.path}`);
    if (d.type === 'crypt') reasons.push(`holds the open LUKS mapping ${d.path}`);
    if (d.type === 'lvm') reasons.push(`holds the active LVM volume ${d.path}`);
  }
  const signatures: string[] = [];
  const partitions = (disk.children ?? []).filter((c) => c.type === 'part');
  if (partitions.length > 0)
    signatures.push(`a partition table with ${partitions.length} partition${partitions.length > 1 ? 's' : ''}`);
  for (const d of [disk, ...partitions]) {
    if (d.fstype) signatures.push(`${d.path}: ${describeFs(d)}`);
  }
  return {
    path: disk.path,
    byId: ctx.byId[disk.path],
    model: disk.model?.trim() || '-',
    serial: disk.serial?.trim() || '',
    size: disk.size,
    transport: disk.tran ?? (disk.path.startsWith('/dev/vd') ? 'virtio' : '-'),
    removable: disk.rm,
    logicalSectorSize: disk['log-sec'],
    eligible: reasons.length === 0,
    reasons: [...new Set(reasons)],
    signatures,
    partitions: partitions.map(
      (p) =>
        `${p.path} ${formatBytes(p.size)}${p.fstype ? ` ${p.fstype}` : ''}${p.partlabel ? ` "${p.partlabel}"` : ''}`,
    ),
  };
}

function describeFs(d: BlockDevice): string {
  const what: Record<string, string> = {
    linux_raid_member: 'an mdadm RAID member',
    crypto_LUKS: 'a LUKS header',
    LVM2_member: 'an LVM physical volume',
  };
  return `${what[d.fstype!] ?? `a ${d.fstype} filesystem`}${d.label ? ` labelled "${d.label}"` : ''}`;
}

/** What a person types to confirm: the serial, or the last part of the by-id name. */
export function confirmationWords(d: Pick<DiskAssessment, 'serial' | 'byId'>): string[] {
  const words: string[] = [];
  if (d.serial) words.push(d.serial);
  if (d.byId) words.push(d.byId.split('/').at(-1)!.split('_').at(-1)!);
  return words;
}
