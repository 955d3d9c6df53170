import { escapeName } from './byte-names.js';

// How a word is shown in a command line a person may copy into a shell: logs,
// dry-run, error messages and their fixes. Pure text, so config's fixes can use it.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function quote(word: string): string {
  if (word !== '' && SAFE.test(word)) return word;
  // bytes that are not text, newlines, control characters: bash's $'…', which gives them back
  if (escapeName(word) !== word.replaceAll('\\', '\\\\')) return `$'${escapeName(word).replaceAll("'", "\\'")}'`;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
