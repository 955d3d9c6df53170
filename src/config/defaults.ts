// Kept apart from the loader so the CLI can show it in --help without loading zod.
export const DEFAULT_CONFIG = '/etc/btrfs-vault/config.toml';

/**
 * The target's default names, the one place they are written down: the schema fills
 * them in for keys left out, and setup makes the stack with them. Paths that are not
 * absolute are beside the config (keyfile, token_sha512) or on the backup filesystem (token).
 */
export const TARGET_DEFAULTS = {
  mountpoint: '/media/backup',
  token: '.token',
  token_sha512: 'token.sha512',
  array: '/dev/md/backup',
  luks_name: 'enc-backup',
  keyfile: 'key',
  volume_group: 'backup',
  partition: '/dev/disk/by-partlabel/backup',
} as const;

/**
 * The name of the target `[target]` describes (a config of one backup disk); a
 * `[targets.<name>]` of this name beside it is a problem.
 */
export const SINGLE_TARGET_NAME = 'backup';

/**
 * A `[targets.<name>]` table's defaults: derived from its name, so two disks attached at
 * once never share a mount point, an array, a LUKS or volume group name, or a token hash.
 * The token is on the disk itself, so every disk may keep it under the same name.
 */
export function namedTargetDefaults(name: string): { [K in keyof typeof TARGET_DEFAULTS]: string } {
  return {
    mountpoint: `/media/backup-${name}`,
    token: TARGET_DEFAULTS.token,
    token_sha512: `token-${name}.sha512`,
    array: `/dev/md/backup-${name}`,
    luks_name: `enc-backup-${name}`,
    keyfile: `key-${name}`,
    volume_group: `backup-${name}`,
    partition: `/dev/disk/by-partlabel/${targetLabel(name)}`,
  };
}

/**
 * A target's name: safe in a file name, a systemd unit's instance, a TOML bare key and
 * a GPT partition label (36 characters, `backup-` before it), and never a path.
 */
export const TARGET_NAME = /^[a-z0-9][a-z0-9_-]{0,23}$/;
export const TARGET_NAME_RULE =
  'at most 24 characters: lower-case letters, digits, "-" and "_", starting with a letter or digit';

/**
 * How long a name setup derives from a disk's serial may be: the array's name goes into
 * the md superblock, whose name field (32 bytes) also holds the host name before a ":".
 */
const DERIVED_NAME_LENGTH = 12;

/**
 * The target name setup gives another backup disk of this host (rotation): the tail of
 * the disk's serial (else of its by-id name, else of its kernel name), lower-cased, with
 * everything but letters and digits dropped, so whatever a serial holds (a "/", blanks,
 * a "%", a line break) the name is safe in a device path, a unit name and a TOML key.
 * A name the config has already (two disks of one serial) gets "-2", "-3", ….
 */
export function targetNameFor(disk: { serial: string; byId?: string; path: string }, taken: readonly string[]): string {
  const from = (raw: string | undefined) =>
    (raw ?? '')
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')
      .slice(-DERIVED_NAME_LENGTH);
  const base = from(disk.serial) || from(disk.byId?.split('/').at(-1)) || from(disk.path.split('/').at(-1)) || 'disk';
  if (!taken.includes(base)) return base;
  for (let n = 2; ; n++) if (!taken.includes(`${base}-${n}`)) return `${base}-${n}`;
}

/** The GPT label of a named target's partition: its default `partition` is this label's by-partlabel path. */
export function targetLabel(name: string): string {
  return `backup-${name}`;
}

/** How long a disk may be away before its pin goes, and before status warns that it is away. */
export const ROTATION_DEFAULTS = { keep_for_absent: '90d', max_age: '30d' } as const;

/**
 * The layers a target may have between its partition and btrfs, bottom-up: the one
 * list of their names (the schema reads it; each has its handler in src/stack/layers.ts,
 * which knows everything else about it).
 */
export const LAYER_NAMES = ['raid', 'luks', 'lvm'] as const;

export type LayerName = (typeof LAYER_NAMES)[number];

/** What setup makes unless told otherwise: the whole stack (a config without `layers` has none). */
export const FULL_STACK: readonly LayerName[] = LAYER_NAMES;

/** Each layer at most once, bottom-up in the order raid, luks, lvm. */
export function layersInOrder(layers: readonly string[]): boolean {
  const order: readonly string[] = FULL_STACK;
  return (
    new Set(layers).size === layers.length &&
    layers.every((l, i) => i === 0 || order.indexOf(l) > order.indexOf(layers[i - 1]!))
  );
}

/** What load.ts fills in for keys left out that the schema does not fill in. */
export const SNAPSHOT_DIR = 'snapshots';
export const NOTIFY_DEFAULTS = { timeout: 60, on: ['failure', 'stale'] } as const;
export const STATUS_DEFAULTS = { max_age: '7d' } as const;
export const BACKUP_DEFAULTS = { stall_timeout: '10m' } as const;
