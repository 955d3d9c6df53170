import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Runs the CLI under `strace -ff -e execve` (one trace file per process: the lines of
 * programs running at once never interleave): its stdout, and the argv after "btrfs" of
 * every btrfs it ran successfully, in the order of their files.
 */
export function tracedBtrfs(traces: string, bin: string, args: string[]): { out: string; btrfs: string[] } {
  mkdirSync(traces);
  const out = execFileSync(
    'strace',
    ['-ff', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-o', join(traces, 't'), 'node', bin, ...args],
    { encoding: 'utf8' },
  );
  const btrfs = readdirSync(traces)
    .flatMap((f) => readFileSync(join(traces, f), 'utf8').split('\n'))
    .filter((l) => / = 0$/.test(l))
    .flatMap((l) => {
      const m = /execve\("[^"]*\/btrfs", \["btrfs", (.*?)\]/.exec(l);
      return m ? [m[1]!.replaceAll('"', '').replaceAll(', ', ' ')] : [];
    });
  return { out, btrfs };
}
