// rsync's --itemize-changes output, as differences between a snapshot and its backup.
// Pure. Format (rsync(1), "--itemize-changes"): YXcstpoguax path, where Y is the kind
// of update, X the file type, then one letter per attribute that differs. rsync (in the
// C locale, without --8-bit-output) writes each byte of a name that is not printable
// ASCII as \#ooo, and a backslash that would read as one as \#134: names come back as
// their exact bytes, shown escaped (core/byte-names.ts).

import { escapeName, fromBytes } from './byte-names.js';

export interface Difference {
  /** escaped (escapeName) */
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
      out.push({ path: rsyncName(line.replace(/^\*deleting\s+/, '')), what: 'only in the backup' });
      continue;
    }
    const m = /^([<>ch.])([fdLDS])(\S{9}) (.*)$/.exec(line);
    if (!m) continue;
    const [, update, type, flags, rest] = m as unknown as [string, string, string, string, string];
    // a symlink's " -> target", a hard link's " => target": not part of the path
    const shown = rest.replace(/ [-=]> .*$/, '');
    const path = rsyncName(shown);
    const kind = TYPES[type] ?? 'entry';
    if (flags === '+++++++++') {
      out.push({
        path,
        what:
          update === 'h'
            ? `hard link missing from the backup (${rsyncName(rest.slice(shown.length + 4))})`
            : `${kind} missing from the backup`,
      });
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

/** A name as rsync wrote it: its \#ooo escapes back to bytes, then escaped for people. */
export function rsyncName(text: string): string {
  if (!text.includes('\\#')) return escapeName(text);
  const bytes: number[] = [];
  const raw = Buffer.from(text, 'latin1');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && raw[i + 1] === 0x23 && /^[0-7]{3}$/.test(text.slice(i + 2, i + 5))) {
      bytes.push(parseInt(text.slice(i + 2, i + 5), 8));
      i += 4;
    } else bytes.push(raw[i]!);
  }
  return escapeName(fromBytes(Buffer.from(bytes)));
}
