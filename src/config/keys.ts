// What each key of config.toml holds, as a person reads it: the type expected and an
// example. Every schema problem is told in these words (zod's own say "Invalid input"),
// and README "Configuration" documents the same keys.

export interface KeyInfo {
  /** the expected type and form, e.g. 'an array of layer names' */
  expects: string;
  /** how the key is written, e.g. 'layers = ["raid", "luks", "lvm"]' */
  example: string;
  /** its value is never shown (a URL with a key) */
  secret?: boolean;
}

/** Keys by their place: `target.layers`, `sources[].name` (array items are `[]`). */
export type KeyTable = Readonly<Record<string, KeyInfo>>;

const pathString = (what: string) => `a string: ${what}`;

export const CONFIG_KEYS: KeyTable = {
  host: {
    expects: 'a string: a host name of letters, digits, ".", "_", "-" (at most 63 characters, starting with a letter or digit)',
    example: 'host = "deimos"',
  },
  sources: {
    expects: 'an array of paths or tables',
    example: 'sources = ["/", "/home", { path = "/srv/www", name = "www" }]',
  },
  'sources[]': {
    expects: 'a path (a string starting with /) or a table { path = "...", name = "...", snapshot_dir = "..." }',
    example: 'sources = ["/home", { path = "/srv/www", name = "www" }]',
  },
  'sources[].path': {
    expects: pathString('the absolute path of a btrfs subvolume'),
    example: 'sources = [{ path = "/srv/www" }]',
  },
  'sources[].name': {
    expects: pathString('one folder name, used for this source on both sides'),
    example: 'sources = [{ path = "/srv/www", name = "www" }]',
  },
  'sources[].snapshot_dir': {
    expects: pathString('a folder on the same btrfs filesystem as the source (relative: beside the config)'),
    example: 'sources = [{ path = "/home", snapshot_dir = "/home/.snapshots" }]',
  },
  snapshot_dir: {
    expects: pathString('a folder for the snapshots (relative: beside the config)'),
    example: 'snapshot_dir = "/snapshots"',
  },
  target: {
    expects: 'a table: [target] with the keys of the backup disk',
    example: '[target]\nmountpoint = "/media/backup"\nlayers = []',
  },
  'target.mountpoint': {
    expects: pathString('the absolute path where the backup filesystem is mounted'),
    example: 'mountpoint = "/media/backup"',
  },
  'target.layers': {
    expects: 'an array of layer names, bottom-up: some of "raid", "luks", "lvm" in that order ([] for a plain btrfs disk)',
    example: 'layers = ["raid", "luks", "lvm"]',
  },
  'target.layers[]': {
    expects: 'one of "raid", "luks", "lvm"',
    example: 'layers = ["raid", "luks", "lvm"]',
  },
  'target.token': {
    expects: pathString('the token file, relative to the mount point (on the backup filesystem)'),
    example: 'token = ".token"',
  },
  'target.token_sha512': {
    expects: pathString("the file with the token's SHA-512 (relative: beside the config)"),
    example: 'token_sha512 = "token.sha512"',
  },
  'target.array': {
    expects: pathString('the device of the md RAID1 array'),
    example: 'array = "/dev/md/backup"',
  },
  'target.luks_name': {
    expects: 'a string: a device-mapper name of letters, digits, ".", "_", "-" (at most 127 characters)',
    example: 'luks_name = "enc-backup"',
  },
  'target.keyfile': {
    expects: pathString('the LUKS keyfile (relative: beside the config)'),
    example: 'keyfile = "key"',
  },
  'target.volume_group': {
    expects: 'a string: an LVM volume group name of letters, digits, "+", ".", "_", "-" (at most 127 characters, not starting with "-")',
    example: 'volume_group = "backup"',
  },
  'target.device': {
    expects: pathString('the absolute path of the device holding the backup filesystem'),
    example: 'device = "/dev/backup/deimos"',
  },
  'target.partition': {
    expects: pathString('the absolute path of the partition at the bottom of the stack'),
    example: 'partition = "/dev/disk/by-partlabel/backup"',
  },
  'target.min_free': {
    expects: 'a string: a percentage of the backup filesystem or a size with K, M, G or T',
    example: 'min_free = "10%"',
  },
  retention: {
    expects: 'a table: [retention.source] and [retention.target], each with counts of snapshots to keep',
    example: '[retention.target]\ndaily = 31',
  },
  ...retentionKeys('source', 'keep_last = 3'),
  ...retentionKeys('target', 'daily = 31'),
  notify: {
    expects: 'a table: [notify] with command, url, timeout, on',
    example: '[notify]\ncommand = ["/usr/local/bin/tell-me"]\non = ["failure", "stale"]',
  },
  'notify.command': {
    expects: 'a string (a program) or an array of strings (a program and its arguments); it gets the run\'s JSON report on stdin',
    example: 'command = ["/usr/bin/logger", "-t", "btrfs-vault"]',
  },
  'notify.url': {
    expects: 'a string: an http or https URL; the report is POSTed to it, to <url>/fail for a failure or stale backups',
    example: 'url = "https://hc-ping.com/your-uuid"',
    secret: true,
  },
  'notify.timeout': {
    expects: 'a whole number of seconds (1 to 3600, default 60): how long the command may run before it and its children are ended',
    example: 'timeout = 60',
  },
  'notify.on': {
    expects: 'an array of events: "failure", "stale", "success"',
    example: 'on = ["failure", "stale"]',
  },
  'notify.on[]': {
    expects: 'one of "failure", "stale", "success"',
    example: 'on = ["failure", "stale"]',
  },
  status: {
    expects: 'a table: [status] with max_age',
    example: '[status]\nmax_age = "7d"',
  },
  'status.max_age': {
    expects: 'a string: a number of hours, days or weeks, e.g. "36h", "7d", "2w"',
    example: 'max_age = "7d"',
  },
};

/** Each side's retention keys: a count, or "all". */
function retentionKeys(side: 'source' | 'target', example: string): KeyTable {
  const count = (what: string) => ({ expects: `a whole number of ${what} to keep (0: none), or "all"`, example: `[retention.${side}]\n${example}` });
  return {
    [`retention.${side}`]: { expects: 'a table of counts: keep_last, hourly, daily, weekly, monthly, yearly', example: `[retention.${side}]\n${example}` },
    [`retention.${side}.keep_last`]: count('newest snapshots'),
    [`retention.${side}.hourly`]: count('hours (the newest snapshot of each)'),
    [`retention.${side}.daily`]: count('days (the newest snapshot of each)'),
    [`retention.${side}.weekly`]: count('weeks (the newest snapshot of each)'),
    [`retention.${side}.monthly`]: count('months (the newest snapshot of each)'),
    [`retention.${side}.yearly`]: count('years (the newest snapshot of each)'),
  };
}

/** The table a key lives in, for "write it under [target]". */
export function tableOf(key: string): string | undefined {
  const dot = key.lastIndexOf('.');
  if (dot < 0 || key.slice(0, dot).includes('[]')) return undefined;
  return key.slice(0, dot);
}

/** The keys directly inside a table ('' = the top level). */
export function keysIn(table: KeyTable, parent: string): string[] {
  const prefix = parent === '' ? '' : `${parent}.`;
  return Object.keys(table)
    .filter((k) => k.startsWith(prefix) && !k.slice(prefix.length).includes('.') && !k.endsWith('[]'))
    .map((k) => k.slice(prefix.length));
}
