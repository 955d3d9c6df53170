import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Everything a restore must bring back, per path: type, mode, owner, size, allocated
 * blocks (sparse files), modification time, symlink target, content hash, extended
 * attributes, and which paths are hard links of one another. Equal trees, equal maps.
 */
export function metaTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string>();
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      const link = st.nlink > 1 && !st.isDirectory() ? inodes.get(st.ino) : undefined;
      if (st.nlink > 1 && !st.isDirectory() && !link) inodes.set(st.ino, r);
      const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : 'o';
      const content = st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16) : st.isSymbolicLink() ? readlinkSync(p) : '';
      out[r] = [kind, (st.mode & 0o7777).toString(8), `${st.uid}:${st.gid}`, kind === 'd' ? '' : st.size, kind === 'f' ? st.blocks : '', Math.trunc(st.mtimeMs), content, xattrs(p), link ? `hardlink ${link}` : ''].join(' ');
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(dir, '');
  return out;
}

function xattrs(path: string): string {
  return execFileSync('getfattr', ['-h', '-d', '-m', '-', '--absolute-names', path], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .sort()
    .join(',');
}
