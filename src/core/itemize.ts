// rsync's --itemize-changes output, as differences between a snapshot and its backup.
// Pure. Format (rsync(1), "--itemize-changes"): YXcstpoguax path, where Y is the kind
// of update, X the file type, then one letter per attribute that differs.

export interface Difference {
  path: string;
  /** what differs, in words: "missing from the backup", "content, size", ... */
  what: string;
}

const TYPES: Record<string, string> = { f: 'file', d: 'folder', L: 'symlink', D: 'device', S: 'special file' };
const ATTRS: [number, string, string][] = [
  [0, 'c', 'content'],
  [1, 's', 'size'],
  [2, 't', 'modification time'],
  [3, 'p', 'permissions'],
  [4, 'o', 'owner'],
  [5, 'g', 'group'],
  [7, 'a', 'ACL'],
  [8, 'x', 'extended attributes'],
];

export function parseItemize(text: string): Difference[] {
  const out: Difference[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('*deleting')) {
      out.push({ path: line.replace(/^\*deleting\s+/, ''), what: 'only in the backup' });
      continue;
    }
    const m = /^([<>ch.])([fdLDS])(\S{9}) (.*)$/.exec(line);
    if (!m) continue;
    const [, update, type, flags, rest] = m as unknown as [string, string, string, string, string];
    // a symlink's " -> target", a hard link's " => target": not part of the path
    const path = rest.replace(/ [-=]> .*$/, '');
    const kind = TYPES[type] ?? 'entry';
    if (flags === '+++++++++') {
      out.push({ path, what: update === 'h' ? `hard link missing from the backup (${rest.slice(path.length + 4)})` : `${kind} missing from the backup` });
      continue;
    }
    if (update === 'c' && type === 'L') {
      out.push({ path, what: 'symlink target' });
      continue;
    }
    const attrs = ATTRS.filter(([i, letter]) => flags[i] === letter).map(([, , word]) => word);
    if (attrs.length > 0) out.push({ path, what: `${kind} differs in ${attrs.join(', ')}` });
  }
  return out;
}
