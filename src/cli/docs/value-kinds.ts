// What the shell completions offer for each option value and argument: the values a
// user would otherwise look up. Keyed by name, so an option shared by several commands
// is said once; a unit test fails on an option or argument of the program that is not
// here (test/unit/man-completions.test.ts), so a new one is completed on purpose.

export type ValueKind =
  /** a file (--config) */
  | 'file'
  /** a folder (--to) */
  | 'dir'
  /** a whole disk, by its stable name in /dev/disk/by-id */
  | 'disk'
  /** a configured source: its name or path (btrfs-vault __complete sources) */
  | 'source'
  /** a backup of the source named before it (btrfs-vault __complete backups SOURCE) */
  | 'backup'
  /** a configured target (btrfs-vault __complete targets) */
  | 'target'
  /** a configured source, or any folder (backup takes unconfigured paths too) */
  | 'source-or-dir'
  /** a command of btrfs-vault (help's argument) */
  | 'command'
  /** a host name */
  | 'host'
  /** one of a few words */
  | { words: readonly string[] }
  /** nothing to offer: a person types it (a date, a serial) */
  | 'none';

/** Option values, by long option name. */
export const OPTION_VALUES: Readonly<Record<string, ValueKind>> = {
  '--config': 'file',
  '--answers': 'file',
  '--host': 'host',
  '--to': 'dir',
  '--root': 'dir',
  '--init': 'dir',
  '--serve-root': 'dir',
  '--max-age': 'none',
  '--before': 'none',
  '--path': 'file',
  '--from': 'backup',
  '--every': { words: ['hourly', 'daily', 'weekly'] },
  '--disk': 'disk',
  '--confirm': 'none',
  '--target': 'target',
  // target add: what a person reads off the server
  '--ssh': 'none',
  '--port': 'none',
  '--fingerprint': 'none',
};

/** Arguments, by name ("command" is help's). */
export const ARGUMENT_VALUES: Readonly<Record<string, ValueKind>> = {
  // backup, verify and prune also take a subvolume not configured, by its path
  sources: 'source-or-dir',
  source: 'source',
  backup: 'backup',
  path: 'file',
  command: 'command',
  // target add: a new target's name
  name: 'none',
};
