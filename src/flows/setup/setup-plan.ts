import { dirname } from 'node:path';
import type { VaultConfig } from '../../config/config.js';
import { readFile } from 'node:fs/promises';
import { configText, hasTargetTable, withTargetTable } from '../../config/config-text.js';
import type { LayerName } from '../../config/defaults.js';
import { operand } from '../../system/runner.js';
import { fstabLine as fstabLineFor } from '../../stack/filesystem.js';
import {
  plainCommands,
  type CreateMode,
  type CreateOptions,
  type CreateStep,
  type StepCommand,
} from '../../stack/layer.js';
import { SETUP_PBKDF, type PbkdfOptions } from '../../stack/luks.js';
import { exists } from '../../stack/devices.js';
import { partitionPath } from '../../stack/partition.js';
import { raidCommands } from '../../stack/raid.js';
import { filesystemDevice } from '../../stack/layers.js';
import { createLayers, stackLayers } from '../../stack/stack.js';
import type { HostVolume } from './existing-volume.js';

// The setup plan: which steps, with exactly which commands. Pure, so the summary, the
// dry-run and the tests all see the same plan that the task list then carries out.

/** see CreateMode (src/stack/layer.ts) */
export type SetupMode = CreateMode;

export interface SetupSpec {
  mode: SetupMode;
  /** the whole disk, e.g. /dev/sdb */
  disk: string;
  /** how the user knows it: its by-id name when there is one */
  diskName: string;
  /** the GPT partition label, unique per disk: backup-<serial tail> */
  label: string;
  /** old signatures to destroy, partitions first (empty: nothing to wipe) */
  wipe: string[];
  /** size of the disk in bytes, for clearing its last MiBs */
  diskBytes: number;
  /** an old array on this disk is running (udev assembled it): stop it before wiping */
  stopArray?: boolean;
  host: string;
  /** the layers between the partition and btrfs, bottom-up: [] is a plain btrfs disk */
  layers: readonly LayerName[];
  size: string;
  mountpoint: string;
  compression: 'zstd' | 'lzo' | 'zlib' | 'none';
  array: string;
  luksName: string;
  keyfile: string;
  volumeGroup: string;
  configFile: string;
  tokenFile: string;
  tokenHashFile: string;
  pbkdf?: PbkdfOptions;
  /** reconnect: what the host's volume holds, as found before anything was written */
  existing?: HostVolume;
  /**
   * rotation: another backup disk of this host, named so in the config: its names are
   * its own (namedTargetDefaults), and the config gets its [targets.<name>] table
   */
  target?: string;
}

export type { StepId } from '../../stack/layer.js';
export type PlanStep = CreateStep;

const WIPE_MIB = 16;

export { partitionPath };

export function labelFor(serial: string, byId: string | undefined, path: string): string {
  const raw = serial || byId?.split('/').at(-1) || path.split('/').at(-1)!;
  const tail =
    raw
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')
      .slice(-8) || 'disk';
  return `backup-${tail}`;
}

/** What the filesystem is made on: the top of the layers, as their handlers say (the partition of a plain disk). */
export function setupDevice(spec: SetupSpec): string {
  return filesystemDevice(setupConfig(spec).target)!;
}

export function fstabLine(spec: SetupSpec): string {
  return fstabLineFor(setupDevice(spec), spec.mountpoint, spec.compression);
}

/** The config file setup writes for this config: each layer's handler gives its keys. */
export function setupConfigText(config: VaultConfig): string {
  return configText(config, layerKeys(config));
}

function layerKeys(config: VaultConfig): Record<string, string> {
  return Object.assign({}, ...stackLayers({ config }).map((h) => h.configKeys?.(config.target) ?? {})) as Record<
    string,
    string
  >;
}

/** Rotation: the config as it is, with the new disk's [targets.<name>] table added (its keys from its layers' handlers). */
export function rotationConfigText(existing: string, spec: SetupSpec & { target: string }): string {
  const config = setupConfig(spec);
  return withTargetTable(existing, spec.configFile, spec.target, config, layerKeys(config));
}

/** Clears every old layer: each signature wipefs knows, md superblocks, and both ends of the disk. */
export function wipeCommands(spec: Pick<SetupSpec, 'disk' | 'wipe' | 'diskBytes'>): StepCommand[] {
  const parts = spec.wipe.filter((d) => d !== spec.disk);
  const lastMiB = Math.floor(spec.diskBytes / 1024 / 1024) - WIPE_MIB;
  return [
    ...parts.flatMap((p): StepCommand[] => [
      {
        argv: ['mdadm', ['--zero-superblock', '--force', operand(p)]],
        mayFail: 'a partition without an md superblock has none to zero',
      },
      { argv: ['wipefs', ['--all', '--force', '--', p]] },
    ]),
    ...plainCommands(
      ['wipefs', ['--all', '--force', '--', spec.disk]],
      ['dd', ['if=/dev/zero', `of=${spec.disk}`, 'bs=1M', `count=${WIPE_MIB}`, 'conv=fsync', 'status=none']],
      // btrfs keeps a second superblock 64 MiB into its device (disk or first partition)
      ['dd', ['if=/dev/zero', `of=${spec.disk}`, 'bs=1M', 'count=2', 'seek=64', 'conv=fsync', 'status=none']],
      // GPT's backup table and an md 0.90/1.0 superblock live at the end
      [
        'dd',
        [
          'if=/dev/zero',
          `of=${spec.disk}`,
          'bs=1M',
          `count=${WIPE_MIB}`,
          `seek=${Math.max(lastMiB, 0)}`,
          'conv=fsync',
          'status=none',
        ],
      ],
      // (the partition table: the partition step's own sgdisk --zap-all, which always follows)
    ),
  ];
}

/**
 * The config setup is about to write, as every flow sees it: the one description of
 * the target, from which the plan's layers (and later the bring-up and close) come.
 */
export function setupConfig(spec: SetupSpec): VaultConfig {
  return {
    file: spec.configFile,
    dir: dirname(spec.configFile),
    host: spec.host,
    snapshotDir: '',
    sources: [],
    sourcesFromFile: [],
    target: {
      mountpoint: spec.mountpoint,
      layers: [...spec.layers],
      tokenFile: spec.tokenFile,
      tokenHashFile: spec.tokenHashFile,
      array: spec.array,
      luksName: spec.luksName,
      keyfile: spec.keyfile,
      volumeGroup: spec.volumeGroup,
      logicalVolume: spec.host,
      // a plain disk's device is written (the loader cannot derive it); a stack's is its top layer's
      device: spec.layers.length === 0 ? partitionPath(spec.label) : undefined,
      partition: partitionPath(spec.label),
    },
  };
}

/** The plan: the wipe, then each layer's own steps bottom-up (its handler's `create`), then the config. */
export function planSetup(spec: SetupSpec): PlanStep[] {
  const config = setupConfig(spec);
  const ctx = { config };
  const options: CreateOptions = {
    mode: spec.mode,
    disk: spec.disk,
    diskName: spec.diskName,
    label: spec.label,
    size: spec.size,
    compression: spec.compression,
    pbkdf: spec.pbkdf ?? SETUP_PBKDF,
    ...(spec.existing ? { existingTokenSha512: spec.existing.tokenSha512 } : {}),
  };
  const wipe: PlanStep[] =
    spec.mode === 'new-disk' && spec.wipe.length > 0
      ? [
          {
            id: 'wipe',
            title: `Wipe the old signatures on ${spec.diskName}`,
            commands: [
              ...plainCommands(...(spec.stopArray ? [raidCommands.stop(spec.array)] : [])),
              ...wipeCommands(spec),
            ],
          },
        ]
      : [];
  return [...wipe, ...createLayers(ctx).flatMap((layer) => layer.create(ctx, options)), configStep(spec, config)];
}

/** The last step: the config written (kept if it exists), or for another disk of this host its table added. */
function configStep(spec: SetupSpec, config: VaultConfig): PlanStep {
  const { target } = spec;
  if (target !== undefined)
    return {
      id: 'config',
      title: `Add [targets.${target}] to the config ${spec.configFile}`,
      commands: [],
      writes: [`${spec.configFile}: a [targets.${target}] table added, the rest kept as it is`],
      done: async () => hasTargetTable(await readFile(spec.configFile, 'utf8').catch(() => ''), target),
      finish: async (c) =>
        c.runner.change({
          op: 'write-durably',
          path: spec.configFile,
          data: rotationConfigText(await readFile(spec.configFile, 'utf8'), { ...spec, target }),
          mode: 0o600,
          replace: true,
        }),
    };
  return {
    id: 'config',
    title: `Write the config ${spec.configFile}`,
    commands: [],
    writes: [`${spec.configFile} (kept if it exists)`],
    done: () => exists(spec.configFile),
    finish: async (c) =>
      c.runner.change({
        op: 'write-durably',
        path: spec.configFile,
        data: setupConfigText(config),
        mode: 0o600,
        replace: false,
      }),
  };
}
