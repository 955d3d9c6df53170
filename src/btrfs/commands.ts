import type { Argv } from '../system/runner.js';

// btrfs-progs commands as data. Paths come after `--` (btrfs-progs ends its options there),
// so a path that starts with `-` is never read as an option.

export const btrfs = {
  /** every subvolume with its UUIDs and generations (-c: the one it was created in) */
  list: (path: string): Argv => ['btrfs', ['subvolume', 'list', '-a', '-c', '-u', '-q', '-R', '--', path]],
  /** the same, read-only subvolumes only */
  listReadonly: (path: string): Argv => [
    'btrfs',
    ['subvolume', 'list', '-r', '-a', '-c', '-u', '-q', '-R', '--', path],
  ],
  createSubvolume: (path: string): Argv => ['btrfs', ['subvolume', 'create', '--', path]],
  snapshot: (source: string, dest: string): Argv => ['btrfs', ['subvolume', 'snapshot', '-r', '--', source, dest]],
  writableSnapshot: (source: string, dest: string): Argv => ['btrfs', ['subvolume', 'snapshot', '--', source, dest]],
  delete: (path: string): Argv => ['btrfs', ['subvolume', 'delete', '--', path]],
  /** deleted and committed: the cleaner starts on it now, not at the next periodic commit (up to 30 s) */
  deleteNow: (path: string): Argv => ['btrfs', ['subvolume', 'delete', '--commit-after', '--', path]],
  /** wait until btrfs has freed the space of these deleted subvolumes */
  waitDeleted: (mountPoint: string, ids: readonly number[]): Argv => [
    'btrfs',
    ['subvolume', 'sync', '--', mountPoint, ...ids.map(String)],
  ],
  /** one command for many (prune deletes in batches) */
  deleteMany: (paths: readonly string[]): Argv => ['btrfs', ['subvolume', 'delete', '--', ...paths]],
  /** compressed: compressed extents travel as they are (send protocol 2) */
  send: (snapshot: string, parent?: string, compressed = false): Argv => [
    'btrfs',
    ['send', '-q', ...(compressed ? ['--compressed-data'] : []), ...(parent ? ['-p', parent] : []), '--', snapshot],
  ],
  sendHelp: (): Argv => ['btrfs', ['send', '--help']],
  receive: (dir: string): Argv => ['btrfs', ['receive', '--', dir]],
  /** a stream from elsewhere (serve: a client's; restore: a server's): confined to `dir` (chroot), ending at its end command */
  receiveConfined: (dir: string): Argv => ['btrfs', ['receive', '-e', '--chroot', '--', dir]],
  /** bytes used by data and metadata (`-b`: in bytes) */
  df: (path: string): Argv => ['btrfs', ['filesystem', 'df', '-b', '--', path]],
  /** each path's data, exclusive and shared within it, in bytes */
  du: (paths: readonly string[]): Argv => ['btrfs', ['filesystem', 'du', '-s', '--raw', '--', ...paths]],
  /** commit the filesystem's transaction (syncfs): what was received is on the disk */
  sync: (path: string): Argv => ['btrfs', ['filesystem', 'sync', '--', path]],
};
