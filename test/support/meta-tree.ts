import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, normalize } from 'node:path';

/**
 * Everything a restore must bring back, per path: type, mode, owner, size, allocated
 * blocks (sparse files), modification time, symlink target, content hash, extended
 * attributes, and which paths are hard links of one another. Equal trees, equal maps.
 */
export function metaTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const attrs = xattrs(dir);
  const inodes = new Map<number, string>();
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      const link = st.nlink > 1 && !st.isDirectory() ? inodes.get(st.ino) : undefined;
      if (st.nlink > 1 && !st.isDirectory() && !link) inodes.set(st.ino, r);
      const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : 'o';
      const content = st.isFile()
        ? createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)
        : st.isSymbolicLink()
          ? readlinkSync(p)
          : '';
      out[r] = [
        kind,
        (st.mode & 0o7777).toString(8),
        `${st.uid}:${st.gid}`,
        kind === 'd' ? '' : st.size,
        kind === 'f' ? st.blocks : '',
        Math.trunc(st.mtimeMs),
        content,
        attrs.get(normalize(p)) ?? '',
        link ? `hardlink ${link}` : '',
      ].join(' ');
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(dir, '');
  return out;
}

/** path -> its extended attributes, sorted: one getfattr for the whole tree (a call per file is slow under the VM's emulation). */
function xattrs(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const text = execFileSync('getfattr', ['-R', '-h', '-d', '-m', '-', '--absolute-names', dir], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  for (const block of text.split('\n\n')) {
    const [head, ...lines] = block.split('\n').filter(Boolean);
    if (!head?.startsWith('# file: ')) continue;
    out.set(normalize(unescapeName(head.slice('# file: '.length))), lines.sort().join(','));
  }
  return out;
}

/** getfattr writes some bytes of a name (control characters, backslash, non-ASCII) as \\ooo. */
function unescapeName(name: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const octal = name[i] === '\\' ? /^[0-7]{3}/.exec(name.slice(i + 1)) : null;
    if (octal) {
      bytes.push(parseInt(octal[0], 8));
      i += 3;
    } else bytes.push(...Buffer.from(name[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}
