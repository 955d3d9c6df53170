import { readFileSync } from 'node:fs';
import { fromBytes } from '../core/byte-names.js';

/**
 * The command line's arguments with their exact bytes. Node decodes argv as UTF-8 and
 * puts U+FFFD where a byte is not, so `btrfs-vault files /data $'\xff'` would ask for
 * another name; the kernel keeps the bytes in /proc/self/cmdline (Node's own options
 * come before the script, so the arguments are its last entries). Read only when an
 * argument holds U+FFFD; when the two do not line up, argv is kept as Node gave it.
 */
export function exactArgs(
  argv: readonly string[],
  cmdline: () => Buffer = () => readFileSync('/proc/self/cmdline'),
): string[] {
  const args = argv.slice(2);
  if (!args.some((a) => a.includes('\uFFFD'))) return args;
  let raw: Buffer[];
  try {
    raw = split(cmdline()).slice(-args.length);
  } catch {
    return args;
  }
  if (args.length === 0 || raw.length !== args.length || raw.some((r, i) => r.toString('utf8') !== args[i]))
    return args;
  return raw.map((r) => fromBytes(r));
}

function split(cmdline: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < cmdline.length; i++) {
    if (cmdline[i] === 0) {
      out.push(cmdline.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < cmdline.length) out.push(cmdline.subarray(start));
  return out;
}
