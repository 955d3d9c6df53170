import type { Argv } from '../../system/runner.js';

/** What verify runs: commands as data. */
export const verifyCommands = {
  /** compare without copying: -a times, modes, owners; -H hard links; -A ACLs; -X xattrs; names escaped as \#ooo (core/itemize.ts) */
  compare: (from: string, to: string, checksum: boolean, listOnStdin = false): Argv => [
    'rsync',
    [
      '--dry-run',
      '--archive',
      '--hard-links',
      '--acls',
      '--xattrs',
      '--delete',
      '--itemize-changes',
      ...(checksum ? ['--checksum'] : []),
      ...(listOnStdin ? ['--from0', '--files-from=-'] : []),
      '--',
      `${from}/`,
      `${to}/`,
    ],
  ],
  scrubStart: (mp: string): Argv => ['btrfs', ['scrub', 'start', '--', mp]],
  scrubStatus: (mp: string): Argv => ['btrfs', ['scrub', 'status', '-R', '--', mp]],
  kernelLog: (): Argv => ['dmesg', []],
};
