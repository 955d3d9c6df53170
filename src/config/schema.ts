// The user-facing keys of config.toml, each described once where it is defined
// (`documented`, key-docs.ts): the messages and "did you mean" hints (keys.ts), the
// comments of the config setup writes (described-toml.ts) and docs/CONFIG.md are made
// from these descriptions. Unknown keys are errors (a typo must not silently fall back
// to a default). zod/mini: the same validation as classic zod, at a twentieth of the
// code to load at every start (a backup is mostly start-up). The messages here finish
// a sentence "<key> = <value> ..."; the type expected and an example follow.
import * as z from 'zod/mini';
import { DEFAULT_SOURCE_RULES, DEFAULT_TARGET_RULES, type RetentionRules } from '../core/retention.js';
import {
  LAYER_NAMES,
  NOTIFY_DEFAULTS,
  ROTATION_DEFAULTS,
  SINGLE_TARGET_NAME,
  SNAPSHOT_DIR,
  STATUS_DEFAULTS,
  BACKUP_DEFAULTS,
  TARGET_DEFAULTS as D,
  TARGET_NAME_RULE,
} from './defaults.js';
import { documented } from './key-docs.js';
import { hasUserinfo } from '../core/secret-url.js';

// a line break would corrupt the parse of btrfs-progs' output; a NUL ends a C string
const oneLine = z.regex(/^[^\n\r\0]*$/, 'contains a line break or NUL byte');
const text = z.string().check(z.minLength(1, 'is empty'), oneLine);
const path = text;
const pathString = (what: string) => `a string: ${what}`;
// a number of hours, days or weeks: "36h", "7d", "2w"
const duration = z.string().check(z.regex(/^\d+[hdw]$/, 'is not a duration'));

/** user@host: no option-like host, nothing ssh would read as its own syntax */
export const SSH_DESTINATION =
  /^[a-z_][a-z0-9_-]{0,31}@[A-Za-z0-9][A-Za-z0-9.-]{0,252}$|^[a-z_][a-z0-9_-]{0,31}@\[[0-9A-Fa-f:.]+\]$/;

// device-mapper and LVM names: at most 127 characters, "." and ".." are not names
const notDots = z.refine<string>((v) => v !== '.' && v !== '..', 'is not a name');

export const sourceEntrySchema = z.union([
  path,
  z.strictObject({
    // a schema of its own (not `path`), as it carries its own description
    path: documented(z.string().check(z.minLength(1, 'is empty'), oneLine), {
      expects: pathString('the absolute path of a btrfs subvolume'),
      example: 'sources = [{ path = "/srv/www" }]',
      does: 'the absolute path of a btrfs subvolume; the only key a source table needs',
      default: 'none: required',
    }),
    // checked with the derived names (sourceNameProblem)
    name: documented(z.optional(z.string()), {
      expects: pathString('one folder name, used for this source on both sides'),
      example: 'sources = [{ path = "/srv/www", name = "www" }]',
      does: 'the folder name of this source on both sides (`<snapshot_dir>/<name>`, `<mountpoint>/<name>`)',
      default: 'derived from the path: `/` → `-`, and `/` is `root` (`/srv/www` → `srv-www`)',
    }),
    snapshot_dir: documented(z.optional(path), {
      expects: pathString('a folder on the same btrfs filesystem as the source (relative: beside the config)'),
      example: 'sources = [{ path = "/home", snapshot_dir = "/home/.snapshots" }]',
      does: "where this source's snapshots go; it must be on the source's filesystem",
      default: 'the top-level `snapshot_dir`',
    }),
  }),
]);

export const layerSchema = z.enum(LAYER_NAMES);

/**
 * A target's keys: `[target]` (one disk, today's defaults) or `[targets.<name>]` (one of
 * several, defaults derived from the name and filled in by the loader).
 */
function targetFields(named: boolean) {
  // no schema default: the loader fills in today's names for [target], the name's for [targets.<name>]
  const dflt = <T extends z.core.$ZodType>(schema: T, value: unknown, derived: string) =>
    documentedDefault(z.optional(schema), named ? derived : `\`${JSON.stringify(value)}\``);
  const defaults = new Map<z.core.$ZodType, string>();
  const documentedDefault = <T extends z.core.$ZodType>(schema: T, text: string) => {
    defaults.set(schema, text);
    return schema;
  };
  const doc = <T extends z.core.$ZodType>(schema: T, d: Parameters<typeof documented>[1]) =>
    documented(schema, defaults.has(schema) ? { ...d, default: defaults.get(schema)! } : d);
  return {
    mountpoint: doc(dflt(path, D.mountpoint, '`"/media/backup-<name>"`'), {
      expects: pathString('the absolute path where the backup filesystem is mounted'),
      example: 'mountpoint = "/media/backup"',
      does: 'where the backup filesystem is mounted (an absolute path, not `/`)',
    }),
    layers: doc(dflt(z.array(layerSchema), [], '`[]`'), {
      expects:
        'an array of layer names, bottom-up: some of "raid", "luks", "lvm" in that order ([] for a plain btrfs disk)',
      example: 'layers = ["raid", "luks", "lvm"]',
      does: 'the layers below btrfs, bottom-up: some of `"raid"`, `"luks"`, `"lvm"`, each at most once and in that order; `[]` for a plain btrfs disk',
      item: { expects: 'one of "raid", "luks", "lvm"', example: 'layers = ["raid", "luks", "lvm"]' },
    }),
    token: doc(dflt(path, D.token, '`".token"`'), {
      expects: pathString('the token file, relative to the mount point (on the backup filesystem)'),
      example: 'token = ".token"',
      does: 'the token file that tells this backup disk from any other, relative to the mount point and on the backup filesystem (no `/…`, no `../`)',
    }),
    token_sha512: doc(dflt(path, D.token_sha512, '`"token-<name>.sha512"`'), {
      expects: pathString("the file with the token's SHA-512 (relative: beside the config)"),
      example: 'token_sha512 = "token.sha512"',
      does: "the token's `sha512sum` line (relative: beside the config); root's, mode 0600",
    }),
    array: doc(dflt(path, D.array, '`"/dev/md/backup-<name>"`'), {
      expects: pathString('the device of the md RAID1 array'),
      example: 'array = "/dev/md/backup"',
      does: 'the md RAID1 array (an absolute path); with the raid layer',
    }),
    luks_name: doc(
      dflt(
        z.string().check(
          z.minLength(1, 'is empty'),
          z.maxLength(127, 'is too long'),
          z.regex(/^[A-Za-z0-9._-]*$/, 'is not a device-mapper name'),
          notDots,
          // /dev/mapper/control is device-mapper's own device
          z.refine<string>((v) => v !== 'control', "is the name of device-mapper's own device"),
        ),
        D.luks_name,
        '`"enc-backup-<name>"`',
      ),
      {
        expects: 'a string: a device-mapper name of letters, digits, ".", "_", "-" (at most 127 characters)',
        example: 'luks_name = "enc-backup"',
        does: 'the device-mapper name of the opened LUKS container (not `control`); with the luks layer',
      },
    ),
    keyfile: doc(dflt(path, D.keyfile, '`"key-<name>"`'), {
      expects: pathString('the LUKS keyfile (relative: beside the config)'),
      example: 'keyfile = "key"',
      does: "the LUKS keyfile (relative: beside the config); root's, mode 0600; with the luks layer",
    }),
    volume_group: doc(
      dflt(
        z.string().check(
          z.minLength(1, 'is empty'),
          z.maxLength(127, 'is too long'),
          z.regex(/^[A-Za-z0-9+_.-]*$/, 'is not an LVM volume group name'),
          z.regex(/^[^-]/, 'starts with "-"'),
          notDots,
          // the device would be /dev/<group>/<host>: these folders of /dev are taken
          z.refine<string>(
            (v) => !['mapper', 'md', 'disk', 'block', 'char', 'pts', 'shm', 'net', 'bus'].includes(v),
            'is the name of a folder of /dev',
          ),
        ),
        D.volume_group,
        '`"backup-<name>"`',
      ),
      {
        expects:
          'a string: an LVM volume group name of letters, digits, "+", ".", "_", "-" (at most 127 characters, not starting with "-")',
        example: 'volume_group = "backup"',
        does: 'the LVM volume group, not a folder of `/dev` such as `mapper` or `md`; with the lvm layer (the logical volume is named after the host)',
      },
    ),
    device: doc(z.optional(path), {
      expects: pathString('the absolute path of the device holding the backup filesystem'),
      example: 'device = "/dev/backup/deimos"',
      does: 'what the backup filesystem is mounted from',
      default:
        'derived from the layers: `/dev/<volume_group>/<host>` with lvm, else `/dev/mapper/<luks_name>` with luks, else the array with raid; without layers none, and then the filesystem is mounted from its fstab line or must be mounted already',
    }),
    partition: doc(dflt(path, D.partition, '`"/dev/disk/by-partlabel/backup-<name>"`'), {
      expects: pathString('the absolute path of the partition at the bottom of the stack'),
      example: 'partition = "/dev/disk/by-partlabel/backup"',
      does: 'the partition at the bottom of the stack when there is no raid layer',
    }),
    min_free: doc(z.optional(z.string().check(z.regex(/^\d+(\.\d+)?(%|[KMGT])$/, 'is not a percentage or a size'))), {
      expects: 'a string: a percentage of the backup filesystem or a size with K, M, G or T',
      example: 'min_free = "10%"',
      does: 'free space to keep on the backup disk: `"10%"` of it or a size with `K`, `M`, `G`, `T`. Before a transfer, the source\'s oldest backups are deleted (never `latest`, the next parent or the `retention.target.keep_last` newest), each waited for until btrfs has freed its space, until there is room; a wish no deletion can meet is refused before anything is deleted, and the source fails before anything is sent. The run says what it deleted and why',
      default: 'none: nothing is deleted for space',
    }),
    keep_for_absent: doc(z.optional(duration), {
      expects: 'a string: a number of hours, days or weeks, e.g. "90d", "12w"',
      example: 'keep_for_absent = "90d"',
      does: "with several targets: how long the source keeps this disk's pin (the newest snapshot the disk holds, so its next run is incremental) while the disk is away; then the pin is let go with a warning, and the disk's next run is a full one, said before it starts. With one target its pin is never let go",
      default: `\`${JSON.stringify(ROTATION_DEFAULTS.keep_for_absent)}\``,
    }),
    max_age: doc(z.optional(duration), {
      expects: 'a string: a number of hours, days or weeks, e.g. "36h", "30d", "4w"',
      example: 'max_age = "30d"',
      does: 'with several targets: a disk not seen for longer is a warning in `status` ("the office disk has not been seen for 34 days")',
      default: `\`${JSON.stringify(ROTATION_DEFAULTS.max_age)}\``,
    }),
  };
}

export const targetSchema = documented(z.strictObject(targetFields(false)), {
  expects: 'a table: [target] with the keys of the backup disk',
  example: '[target]\nmountpoint = "/media/backup"\nlayers = []',
  does: `where the backups go, one backup disk, named \`${SINGLE_TARGET_NAME}\` (\`--target ${SINGLE_TARGET_NAME}\`); a config needs it or \`[targets.<name>]\` (there is no guessed target)`,
  default: 'none: this or `[targets.<name>]` is required',
});

// a count of snapshots to keep, or all of them
const count = () => z.union([z.int().check(z.minimum(0, 'is negative')), z.literal('all')]);
const shown = (n: number) => (n === Infinity ? '"all"' : String(n));

/** One side's counts; each side is a schema of its own, as its keys are described apart. */
function retentionSide(
  side: 'source' | 'target',
  defaults: RetentionRules,
  example: string,
  // [targets.<name>.retention]: each key left out is [retention.target]'s
  table = `retention.${side}`,
) {
  const override = table.startsWith('targets.');
  // [serve.retention]: each host's folders on a backup server, by the backup disk's defaults
  const served = table === 'serve.retention';
  const doc = (key: string, what: string, does: string, n: number) =>
    documented(z.optional(count()), {
      expects: `a whole number of ${what} to keep (0: none), or "all"`,
      example: `[${table}]\n${key} = ${shown(n)}`,
      does,
      default: override ? `\`retention.target.${key}\`` : `\`${shown(n)}\``,
    });
  const period = (unit: string) =>
    `the newest snapshot of each of the N most recent ${unit} that have one, in local time (a gap while the disk was away does not use up the count)`;
  return documented(
    z.optional(
      z.strictObject({
        keep_last: doc('keep_last', 'newest snapshots', 'the newest N', defaults.keepLast),
        hourly: doc('hourly', 'hours (the newest snapshot of each)', period('hours'), defaults.hourly),
        daily: doc('daily', 'days (the newest snapshot of each)', period('days'), defaults.daily),
        weekly: doc('weekly', 'weeks (the newest snapshot of each)', period('ISO weeks'), defaults.weekly),
        monthly: doc('monthly', 'months (the newest snapshot of each)', period('months'), defaults.monthly),
        yearly: doc('yearly', 'years (the newest snapshot of each)', period('years'), defaults.yearly),
      }),
    ),
    {
      expects: 'a table of counts: keep_last, hourly, daily, weekly, monthly, yearly',
      example: `[${table}]\n${example}`,
      does: override
        ? "how many snapshots this backup disk keeps, instead of `[retention.target]`; a key left out takes `[retention.target]`'s"
        : served
          ? "how many backups the server keeps of each host's folders (`prune` on the server), counted by when serve received each; a key left out takes the backup disk's default (not `[retention.target]`'s)"
          : `how many snapshots ${side === 'source' ? 'the source' : 'the backup disk'} keeps; a key left out takes its default`,
      default: override ? '`[retention.target]`' : 'the defaults of its keys',
    },
  );
}

export const retentionSchema = z.strictObject({
  source: retentionSide('source', DEFAULT_SOURCE_RULES, 'keep_last = 3'),
  target: retentionSide('target', DEFAULT_TARGET_RULES, 'daily = 31'),
});

export type RetentionSide = NonNullable<z.infer<typeof retentionSchema>['source']>;

/** `[targets.<name>]`: one backup disk of several, its keys those of [target], its defaults from its name. */
export const namedTargetSchema = documented(
  z.strictObject({
    ...targetFields(true),
    retention: retentionSide('target', DEFAULT_TARGET_RULES, 'daily = 7', 'targets.<name>.retention'),
    ...remoteFields(),
  }),
  {
    expects: `a table: [targets.<name>] with the keys of a backup disk; <name> ${TARGET_NAME_RULE}`,
    example: '[targets.office]   # [targets.<name>]\nmountpoint = "/media/backup-office"\nlayers = []',
    does: `one backup disk of several (rotation), each with its own chain; \`<name>\` (${TARGET_NAME_RULE}) is how runs, \`--target\` and status name it. Its keys are \`[target]\`'s, their defaults derived from the name, plus \`[targets.<name>.retention]\``,
    default: 'none',
  },
);

/**
 * A backup server's keys: a `[targets.<name>]` with `ssh` is a server reached over SSH
 * (`btrfs-vault serve` there), and then none of a disk's keys (the loader says so).
 */
function remoteFields() {
  return {
    ssh: documented(z.optional(z.string().check(z.regex(SSH_DESTINATION, 'is not user@host'))), {
      expects: 'a string: user@host of the backup server (a host name, an IPv4 address or an [IPv6] address)',
      example: 'ssh = "backup@vault.example.org"',
      does: "makes this target a backup server reached over SSH, where `btrfs-vault serve` runs as the forced command of this host's key (`target add` writes the table); then none of a disk's keys",
      default: 'none: a backup disk',
    }),
    port: documented(z.optional(z.int().check(z.minimum(1, 'is below 1'), z.maximum(65535, 'is above 65535'))), {
      expects: 'a whole number from 1 to 65535',
      example: 'port = 2222',
      does: "the backup server's SSH port; with `ssh`",
      default: '`22`',
    }),
    identity: documented(z.optional(path), {
      expects: pathString("this host's private SSH key for the server (relative: beside the config)"),
      example: 'identity = "ssh/id_ed25519"',
      does: "this host's private key for the server (relative: beside the config); root's, mode 0600; with `ssh`",
      default: '`"ssh/id_ed25519"`',
    }),
    known_hosts: documented(z.optional(path), {
      expects: pathString("the server's pinned host key (relative: beside the config)"),
      example: 'known_hosts = "ssh/known_hosts"',
      does: "the server's host key, pinned by `target add`; no other known_hosts is read (relative: beside the config); with `ssh`",
      default: '`"ssh/known_hosts"`',
    }),
  };
}

/** The keys of a target, resolved: what `[target]` and `[targets.<name>]` both hold. */
export type RawTarget = z.infer<typeof targetSchema>;

export const notifySchema = z.strictObject({
  command: documented(z.optional(z.union([text, z.array(text).check(z.minLength(1, 'is empty'))])), {
    expects:
      "a string (a program) or an array of strings (a program and its arguments); it gets the run's JSON report on stdin",
    example: 'command = ["/usr/bin/logger", "-t", "btrfs-vault"]',
    does: "a program (or a program and its arguments, run without a shell) that gets the run's JSON report on stdin",
    default: 'none',
  }),
  url: documented(
    z.optional(
      z.string().check(
        z.regex(/^https?:\/\/\S+$/, 'is not an http(s) URL'),
        // fetch refuses such a URL: it could never be sent
        z.refine(
          (u: string) => !hasUserinfo(u),
          'holds a user name or password (user:password@), which is never sent: use a URL whose key is its path (https://hc-ping.com/<uuid>) or a notify.command that authenticates from a file of its own (curl -K FILE)',
        ),
      ),
    ),
    {
      expects:
        'a string: an http or https URL; the report is POSTed to it, to <url>/fail for a failure or stale backups',
      example: 'url = "https://hc-ping.com/your-uuid"',
      does: 'the report is POSTed to it on success, to `<url>/fail` on a failure or stale backups. A secret: only its scheme and host are ever shown; a URL with `user:password@` is refused',
      default: 'none',
      secret: true,
    },
  ),
  timeout: documented(
    z.optional(
      z.number().check(z.int(), z.minimum(1, 'is less than 1 second'), z.maximum(3600, 'is more than an hour')),
    ),
    {
      expects: `a whole number of seconds (1 to 3600, default ${NOTIFY_DEFAULTS.timeout}): how long the command may run before it and its children are ended`,
      example: `timeout = ${NOTIFY_DEFAULTS.timeout}`,
      does: 'seconds the command may run; then it and its children (its process group) are ended',
      default: `\`${NOTIFY_DEFAULTS.timeout}\``,
    },
  ),
  on: documented(z.optional(z.array(z.enum(['failure', 'stale', 'success']))), {
    expects: 'an array of events: "failure", "stale", "success"',
    example: 'on = ["failure", "stale"]',
    does: 'the runs that are told: a failure, stale backups (older than `status.max_age`), success',
    default: `\`${JSON.stringify(NOTIFY_DEFAULTS.on).replaceAll(',', ', ')}\``,
    item: { expects: 'one of "failure", "stale", "success"', example: 'on = ["failure", "stale"]' },
  }),
});

export const statusSchema = z.strictObject({
  max_age: documented(z.optional(z.string().check(z.regex(/^\d+[hdw]$/, 'is not a duration'))), {
    expects: 'a string: a number of hours, days or weeks, e.g. "36h", "7d", "2w"',
    example: 'max_age = "7d"',
    does: 'a source whose last successful backup is older is a warning in `status` (and a stale notice)',
    default: `\`${JSON.stringify(STATUS_DEFAULTS.max_age)}\``,
  }),
});

// seconds, minutes or hours, 1s to 24h; "off" turns the limit off
const STALL_FORM = /^(off|[1-9]\d{0,5}[smh])$/;
const stallLimit = z.string().check(
  z.regex(STALL_FORM, 'is not a time such as "10m", "90s", "1h", or "off"'),
  z.refine(
    (v) => v === 'off' || Number(v.slice(0, -1)) * { s: 1, m: 60, h: 3600 }[v.at(-1) as 's' | 'm' | 'h'] <= 86_400,
    'is longer than 24h: use "off" for no limit',
  ),
);

export const backupSchema = z.strictObject({
  stall_timeout: documented(z.optional(stallLimit), {
    expects: 'a string: a number of seconds, minutes or hours from 1s to 24h, e.g. "10m", "90s", "1h"; or "off"',
    example: '[backup]\nstall_timeout = "10m"',
    does: 'a stream (`btrfs send | btrfs receive` to a disk, to or from a backup server, a restore) that moves no byte for this long, or whose receive does not end within three times this long after the last byte (a backup server syncs before it answers), is ended and fails with what to check; the partial copy is deleted as after an interrupted run, and the other sources and targets go on. `"off"`: no limit',
    default: `\`${JSON.stringify(BACKUP_DEFAULTS.stall_timeout)}\``,
  }),
});

const sizeOrPercent = z.string().check(
  z.regex(/^\d+(\.\d+)?(%|[KMGT])$/, 'is not a percentage or a size'),
  z.refine(
    (v) => !v.endsWith('%') || Number(v.slice(0, -1)) < 100,
    'is 100% or more: no filesystem has that much free',
  ),
);

/** `[serve]`: a backup server's own settings (`btrfs-vault serve`, and status, prune and schedule there). */
export const serveSchema = z.strictObject({
  root: documented(z.optional(path), {
    expects: pathString('the serve root, the folder `serve --init` made (absolute)'),
    example: '[serve]\nroot = "/srv/btrfs-vault"',
    does: "the serve root: the folder of every host's root. `status`, `prune` and `schedule install` on the server use it when no `--serve-root` is given",
    default: 'none: `--serve-root` is needed',
  }),
  max_age: documented(z.optional(duration), {
    expects: 'a string: a number of hours, days or weeks, e.g. "36h", "7d", "2w"',
    example: '[serve]\nmax_age = "2d"',
    does: 'a host whose last backup arrived longer ago is a warning in `status` on the server (and `--check` exits 1); `--max-age` wins',
    default: `\`${JSON.stringify(STATUS_DEFAULTS.max_age)}\``,
  }),
  min_free: documented(z.optional(sizeOrPercent), {
    expects: "a string: a percentage of the server's filesystem or a size with K, M, G or T",
    example: '[serve]\nmin_free = "10%"',
    does: "free space `serve` keeps on the server's filesystem: a receive is refused (exit 3, logged) when less is free before it, and what it received is deleted when it took the filesystem under it. Read by `serve --root DIR --config FILE`",
    default: 'none: a receive may fill the filesystem',
  }),
  retention: retentionSide('target', DEFAULT_TARGET_RULES, 'daily = 14', 'serve.retention'),
});

export const hostSchema = z
  .string()
  .check(
    z.minLength(1, 'is empty'),
    z.maxLength(63, 'is too long'),
    z.regex(/^([A-Za-z0-9][A-Za-z0-9._-]*)?$/, 'is not a host name'),
  );

export const configSchema = z.strictObject({
  host: documented(z.optional(hostSchema), {
    expects:
      'a string: a host name of letters, digits, ".", "_", "-" (at most 63 characters, starting with a letter or digit)',
    example: 'host = "deimos"',
    does: "names this host's logical volume (and its backups); with the lvm layer not a name LVM keeps for itself (`snapshot…`, `pvmove…`, or containing `_tmeta`, `_rimage` and the like)",
    default: 'this machine\'s host name, up to the first "."',
  }),
  sources: documented(z.optional(z.array(sourceEntrySchema)), {
    expects: 'an array of paths or tables',
    example: 'sources = ["/", "/home", { path = "/srv/www", name = "www" }]',
    does: 'the subvolumes to back up; each item is a path (`"/home"`) or a table `{ path = "...", name = "...", snapshot_dir = "..." }` where only `path` is required',
    default: 'none (then only the `sources` file beside the config)',
    item: {
      expects: 'a path (a string starting with /) or a table { path = "...", name = "...", snapshot_dir = "..." }',
      example: 'sources = ["/home", { path = "/srv/www", name = "www" }]',
    },
  }),
  snapshot_dir: documented(z.optional(path), {
    expects: pathString('a folder for the snapshots (relative: beside the config)'),
    example: 'snapshot_dir = "/snapshots"',
    does: 'where snapshots go: `<snapshot_dir>/<name>/<UTC time>` (relative: beside the config)',
    default: `\`${SNAPSHOT_DIR}\` beside the config`,
  }),
  // one of the two is required: without it, backups would silently go to wherever /media/backup is
  target: z.optional(targetSchema),
  // record keys are checked by the loader (targetNameProblems), with the rule and a fix
  targets: documented(z.optional(z.record(z.string(), namedTargetSchema)), {
    expects: 'tables: [targets.<name>], one per backup disk',
    example:
      '[targets.home]\nmountpoint = "/media/backup-home"\n\n[targets.office]\nmountpoint = "/media/backup-office"',
    does: 'several backup disks (rotation): `backup` sends to each that is attached, each with its own chain. Beside `[target]` (named `backup`) too',
    default: 'none',
  }),
  // absent: nothing is ever deleted (configs from before retention existed)
  retention: documented(z.optional(retentionSchema), {
    expects: 'a table: [retention.source] and [retention.target], each with counts of snapshots to keep',
    example: '[retention.target]\ndaily = 31',
    does: 'how many snapshots each side keeps; each count is a whole number or `"all"`',
    default: 'none: nothing is ever deleted',
  }),
  backup: documented(z.optional(backupSchema), {
    expects: 'a table: [backup] with stall_timeout',
    example: '[backup]\nstall_timeout = "10m"',
    does: 'how a run treats its streams',
    default: 'the defaults of its keys',
  }),
  status: documented(z.optional(statusSchema), {
    expects: 'a table: [status] with max_age',
    example: '[status]\nmax_age = "7d"',
    does: 'what `status` warns about',
    default: 'the defaults of its keys',
  }),
  serve: documented(z.optional(serveSchema), {
    expects: 'a table: [serve] with root, max_age, min_free and [serve.retention]',
    example: '[serve]\nroot = "/srv/btrfs-vault"\nmax_age = "2d"',
    does: "on a backup server: its serve root, when a host is late, the free space serve keeps, and its retention. A config with only `[serve]` (no sources, no target) is a server's",
    default: 'none: not a backup server',
  }),
  notify: documented(z.optional(notifySchema), {
    expects: 'a table: [notify] with command, url, timeout, on',
    example: '[notify]\ncommand = ["/usr/local/bin/tell-me"]\non = ["failure", "stale"]',
    does: 'who is told how a run went: a program, a URL, or both',
    default: 'none: nobody is told',
  }),
});

export type RawConfig = z.infer<typeof configSchema>;
