// Parsers of md's state: /proc/mdstat, mdadm's ARRAY lines and map, lsblk's RAID members. Pure.

export interface MdArrayStat {
  /** kernel name, e.g. md127 */
  name: string;
  active: boolean;
  level?: string;
  /** member devices, e.g. ["vda1[0]"] */
  members: string[];
  /** "[2/1]" -> wanted 2, present 1 */
  wanted?: number;
  present?: number;
  /** "[U_]" */
  map?: string;
  /** recovery/resync in progress */
  sync?: { action: string; percent: number; speed?: string; finish?: string };
}

export function parseMdstat(text: string): MdArrayStat[] {
  const arrays: MdArrayStat[] = [];
  let current: MdArrayStat | undefined;
  for (const line of text.split('\n')) {
    const head = /^(md\S+)\s*:\s*(active|inactive)(?:\s+\(\S+\))?\s*(raid\d+|linear)?\s*(.*)$/.exec(line);
    if (head) {
      current = {
        name: head[1]!,
        active: head[2] === 'active',
        level: head[3],
        members: (head[4] ?? '').split(/\s+/).filter(Boolean),
      };
      arrays.push(current);
      continue;
    }
    if (!current) continue;
    const counts = /\[(\d+)\/(\d+)\]\s+\[([U_]+)\]/.exec(line);
    if (counts) {
      current.wanted = Number(counts[1]);
      current.present = Number(counts[2]);
      current.map = `[${counts[3]}]`;
    }
    const sync = /(recovery|resync|reshape|check)\s*=\s*([\d.]+)%.*?(?:finish=(\S+))?\s*(?:speed=(\S+))?$/.exec(line);
    if (sync) current.sync = { action: sync[1]!, percent: Number(sync[2]), finish: sync[3], speed: sync[4] };
    if (line.trim() === '') current = undefined;
  }
  return arrays;
}

/** `mdadm --examine --scan` / `--detail --scan` lines: ARRAY <dev> ... UUID=... name=... */
export function parseArrayLines(text: string): { device: string; uuid?: string; name?: string }[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('ARRAY '))
    .map((l) => {
      const f = l.split(/\s+/);
      const kv = Object.fromEntries(f.slice(2).map((x) => [x.slice(0, x.indexOf('=')), x.slice(x.indexOf('=') + 1)]));
      return { device: f[1]!, uuid: kv.UUID, name: kv.name };
    });
}

/**
 * `mdadm --examine --scan --verbose`: each ARRAY line, then its member devices on an
 * indented `devices=` line.
 */
export function parseExamineVerbose(text: string): { uuid?: string; name?: string; devices: string[] }[] {
  const out: { uuid?: string; name?: string; devices: string[] }[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('ARRAY ')) {
      const [a] = parseArrayLines(line);
      out.push({ uuid: a?.uuid, name: a?.name, devices: [] });
      continue;
    }
    const m = /^\s+devices=(\S+)/.exec(line);
    if (m && out.length > 0) out.at(-1)!.devices.push(...m[1]!.split(',').filter(Boolean));
  }
  return out;
}

/** "vdd1[1](F)" -> { device: "vdd1", failed: true } */
export function parseMember(member: string): { device: string; failed: boolean } {
  return { device: member.replace(/\[.*$/, ''), failed: member.endsWith('(F)') };
}

/** mdadm's map of the arrays it started (/run/mdadm/map): "md127 1.2 <uuid> /dev/md/backup" */
export function parseMdadmMap(text: string): { kernelName: string; uuid: string; path: string }[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4 && /^md/.test(f[0]!))
    .map((f) => ({ kernelName: f[0]!, uuid: f[2]!, path: f[3]! }));
}

/**
 * sysfs writes an array's UUID as bytes (7c0f94f3-702c-...), mdadm as four 32-bit
 * words in host order (f3940f7c:586f2c70:...): the same UUID, each word byte-swapped.
 */
export function sameArrayUuid(sysfs: string, mdadm: string): boolean {
  const hex = (u: string) => u.toLowerCase().replace(/[^0-9a-f]/g, '');
  const words = (h: string) =>
    h
      .match(/.{8}/g)
      ?.map((w) => w.match(/../g)!.reverse().join(''))
      .join('') ?? '';
  const a = hex(sysfs);
  return a.length === 32 && (a === hex(mdadm) || a === words(hex(mdadm)));
}

/** `lsblk -J -l -o PATH,FSTYPE,UUID`: the RAID members udev knows, with their array's UUID */
export function parseRaidMembers(json: string): { path: string; uuid: string }[] {
  try {
    const parsed = JSON.parse(json) as {
      blockdevices?: { path?: string; fstype?: string | null; uuid?: string | null }[];
    };
    return (parsed.blockdevices ?? [])
      .filter((d) => d.fstype === 'linux_raid_member' && d.path && d.uuid)
      .map((d) => ({ path: d.path!, uuid: d.uuid! }));
  } catch {
    return [];
  }
}
