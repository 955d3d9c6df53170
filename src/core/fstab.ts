// Parser for /etc/fstab (fstab(5)). Pure.

export interface FstabEntry {
  /** first field as written: a path, or UUID=, LABEL=, PARTUUID=, ... */
  device: string;
  mountPoint: string;
  fsType: string;
  options: string;
}

export function parseFstab(text: string): FstabEntry[] {
  const entries: FstabEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.replace(/#.*/, '').trim().split(/\s+/);
    if (f.length < 2 || f[0] === '') continue;
    entries.push({ device: unescape(f[0]!), mountPoint: unescape(f[1]!), fsType: f[2] ?? '', options: f[3] ?? '' });
  }
  return entries;
}

/** fstab's way of writing a space (and tab, newline, backslash) in a field */
export function escapeFstabField(field: string): string {
  return field.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
