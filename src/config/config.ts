import type { RetentionRules } from '../core/retention.js';
import type { LayerName } from './defaults.js';
import type { ServeConfig } from './serve-config.js';

export type NotifyEvent = 'failure' | 'stale' | 'success';

// The resolved configuration every flow works with: absolute paths, one entry per source.

export interface SourceConfig {
  /** the subvolume that is backed up */
  path: string;
  /** folder name used on both sides */
  name: string;
  /** where this source's snapshots live: <snapshot_dir>/<name> */
  snapshotDir: string;
}

export interface TargetConfig {
  mountpoint: string;
  layers: readonly LayerName[];
  /** absolute path of the token file on the mounted backup filesystem */
  tokenFile: string;
  /** absolute path of the token's sha512 beside the config */
  tokenHashFile: string;
  /** md array (raid layer) */
  array: string;
  /** device-mapper name of the opened LUKS container */
  luksName: string;
  /** absolute path of the LUKS keyfile */
  keyfile: string;
  volumeGroup: string;
  /** the host's logical volume (named after the host) */
  logicalVolume: string;
  /**
   * target.device as written: what the filesystem is mounted from; undefined: the top
   * of the layers (src/stack/layers.ts, filesystemDevice), or for a plain disk only an fstab entry
   */
  device?: string;
  /** the bottom of the stack when there is no RAID layer */
  partition: string;
  /** free space kept on the backup disk: old backups go (as the rules allow) before a transfer */
  minFree?: { percent: number } | { bytes: number };
}

/** A backup disk of the config: its keys, its name, and what rotation adds. */
export interface NamedTargetConfig extends TargetConfig {
  /** `backup` for [target], else the name of its [targets.<name>] table */
  name: string;
  /** with several targets: how long the source keeps this disk's pin while it is away */
  keepForAbsentSeconds: number;
  /** with several targets: a disk not seen for longer is a warning in status */
  maxAgeSeconds: number;
  /** [targets.<name>.retention] over [retention.target]; undefined: [retention.target] as it is */
  retention?: RetentionRules;
}

/** A backup server of the config: a `[targets.<name>]` with `ssh`, reached over OpenSSH. */
export interface RemoteTargetConfig {
  name: string;
  user: string;
  /** a host name or an address (IPv6 without brackets) */
  host: string;
  port: number;
  /** absolute path of this host's private key for the server */
  identity: string;
  /** absolute path of the known_hosts file holding the server's pinned key */
  knownHosts: string;
  /** how long the source keeps this server's pin while it cannot be reached */
  keepForAbsentSeconds: number;
  /** a server not reached for longer is a warning in status */
  maxAgeSeconds: number;
}

export interface VaultConfig {
  /** absolute path of the config file (may not exist when everything is default) */
  file: string;
  dir: string;
  host: string;
  /** the default snapshot folder (sources can override) */
  snapshotDir: string;
  sources: SourceConfig[];
  /** the sources that came from the `sources` file beside the config */
  sourcesFromFile: SourceConfig[];
  /**
   * The one target a flow works on: the first of `targets`, or the one `forTarget`
   * (target-view.ts) chose. Flows written for one disk read it; a run over several
   * disks takes a view per disk.
   */
  target: TargetConfig;
  /**
   * every backup disk of the config: [target] first (named `backup`), then [targets.*]
   * as written. The loader always sets it; a config made by hand around one `target`
   * may leave it out (`targetsOf`, target-view.ts, reads either).
   */
  targets?: NamedTargetConfig[];
  /** the backup servers ([targets.<name>] with `ssh`), in the config's order; not in `targets` */
  remotes?: RemoteTargetConfig[];
  /** undefined: no [retention] in the config, so nothing is ever deleted */
  retention?: { source: RetentionRules; target: RetentionRules };
  /** a source whose last successful backup is older is a warning in status (default 7 days) */
  maxAgeSeconds?: number;
  /** a stream that moves no byte for this long is ended ([backup] stall_timeout); undefined: no limit */
  stallMs?: number;
  /** who is told, and when ([notify]) */
  notify?: {
    command?: readonly string[];
    url?: string;
    /** how long the command may run (default 60) */ timeoutSeconds: number;
    on: readonly NotifyEvent[];
  };
  /** on a backup server: [serve] */
  serve?: ServeConfig;
}
