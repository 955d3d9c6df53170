// The user-facing keys of config.toml. Unknown keys are errors (a typo must not
// silently fall back to a default). zod/mini: the same validation as classic zod,
// at a twentieth of the code to load at every start (a backup is mostly start-up).
// The messages here finish a sentence "<key> = <value> ..."; the type expected and
// an example come from keys.ts.
import * as z from 'zod/mini';
import { TARGET_DEFAULTS as D } from './defaults.js';
import { hasUserinfo } from '../core/secret-url.js';

// a line break would corrupt the parse of btrfs-progs' output; a NUL ends a C string
const oneLine = z.regex(/^[^\n\r\0]*$/, 'contains a line break or NUL byte');
const text = z.string().check(z.minLength(1, 'is empty'), oneLine);
const path = text;

// device-mapper and LVM names: at most 127 characters, "." and ".." are not names
const notDots = z.refine<string>((v) => v !== '.' && v !== '..', 'is not a name');

export const sourceEntrySchema = z.union([
  path,
  z.strictObject({
    path,
    name: z.optional(z.string()), // checked with the derived names (sourceNameProblem)
    snapshot_dir: z.optional(path),
  }),
]);

export const layerSchema = z.enum(['raid', 'luks', 'lvm']);

export const targetSchema = z.strictObject({
  mountpoint: z._default(path, D.mountpoint),
  layers: z._default(z.array(layerSchema), []),
  token: z._default(path, D.token),
  token_sha512: z._default(path, D.token_sha512),
  array: z._default(path, D.array),
  luks_name: z._default(
    z.string().check(
      z.minLength(1, 'is empty'),
      z.maxLength(127, 'is too long'),
      z.regex(/^[A-Za-z0-9._-]*$/, 'is not a device-mapper name'),
      notDots,
      // /dev/mapper/control is device-mapper's own device
      z.refine<string>((v) => v !== 'control', 'is the name of device-mapper\'s own device'),
    ),
    D.luks_name,
  ),
  keyfile: z._default(path, D.keyfile),
  volume_group: z._default(
    z.string().check(
      z.minLength(1, 'is empty'),
      z.maxLength(127, 'is too long'),
      z.regex(/^[A-Za-z0-9+_.-]*$/, 'is not an LVM volume group name'),
      z.regex(/^[^-]/, 'starts with "-"'),
      notDots,
      // the device would be /dev/<group>/<host>: these folders of /dev are taken
      z.refine<string>((v) => !['mapper', 'md', 'disk', 'block', 'char', 'pts', 'shm', 'net', 'bus'].includes(v), 'is the name of a folder of /dev'),
    ),
    D.volume_group,
  ),
  /** the device that holds the btrfs filesystem; derived from the layers when absent */
  device: z.optional(path),
  /** the partition at the bottom of the stack when there is no RAID layer */
  partition: z._default(path, D.partition),
  /** free space to keep on the backup disk before a transfer: "10%" or "50G" */
  min_free: z.optional(z.string().check(z.regex(/^\d+(\.\d+)?(%|[KMGT])$/, 'is not a percentage or a size'))),
});

// a count of snapshots to keep, or all of them
const count = z.union([z.int().check(z.minimum(0, 'is negative')), z.literal('all')]);
export const retentionSideSchema = z.strictObject({
  keep_last: z.optional(count),
  hourly: z.optional(count),
  daily: z.optional(count),
  weekly: z.optional(count),
  monthly: z.optional(count),
  yearly: z.optional(count),
});

export const retentionSchema = z.strictObject({
  source: z.optional(retentionSideSchema),
  target: z.optional(retentionSideSchema),
});

export const notifySchema = z.strictObject({
  /** a program (or argv) run with the run's JSON report on stdin */
  command: z.optional(z.union([text, z.array(text).check(z.minLength(1, 'is empty'))])),
  /** POSTed the report: the URL on success, <url>/fail on a failure or stale backups */
  url: z.optional(
    z.string().check(
      z.regex(/^https?:\/\/\S+$/, 'is not an http(s) URL'),
      // fetch refuses such a URL: it could never be sent
      z.refine((u: string) => !hasUserinfo(u), 'holds a user name or password (user:password@), which is never sent: use a URL whose key is its path (https://hc-ping.com/<uuid>) or a notify.command that authenticates from a file of its own (curl -K FILE)'),
    ),
  ),
  /** seconds the command may run (then its process group is ended) */
  timeout: z.optional(z.number().check(z.int(), z.minimum(1, 'is less than 1 second'), z.maximum(3600, 'is more than an hour'))),
  on: z.optional(z.array(z.enum(['failure', 'stale', 'success']))),
});

export const statusSchema = z.strictObject({
  /** a backup older than this is a warning: "7d", "36h" */
  max_age: z.optional(z.string().check(z.regex(/^\d+[hdw]$/, 'is not a duration'))),
});

export const hostSchema = z.string().check(
  z.minLength(1, 'is empty'),
  z.maxLength(63, 'is too long'),
  z.regex(/^([A-Za-z0-9][A-Za-z0-9._-]*)?$/, 'is not a host name'),
);

export const configSchema = z.strictObject({
  host: z.optional(hostSchema),
  sources: z.optional(z.array(sourceEntrySchema)),
  snapshot_dir: z.optional(path),
  // required: without it, backups would silently go to wherever /media/backup is
  target: targetSchema,
  // absent: nothing is ever deleted (configs from before retention existed)
  retention: z.optional(retentionSchema),
  status: z.optional(statusSchema),
  notify: z.optional(notifySchema),
});

export type RawConfig = z.infer<typeof configSchema>;
