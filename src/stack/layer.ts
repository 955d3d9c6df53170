import type { TargetConfig, VaultConfig } from '../config/config.js';
import type { MountEntry } from '../core/mountinfo.js';
import { InternalError } from '../core/errors.js';
import { formatArgv, type Argv, type Runner } from '../system/runner.js';
import type { PbkdfOptions } from './luks.js';

export interface StackContext {
  runner: Runner;
  config: VaultConfig;
  /** the current mount table (re-read after a layer changes it) */
  mounts(): Promise<MountEntry[]>;
}

export interface LayerState {
  /** is the layer in its open state? */
  up: boolean;
  /** one line for status and diagnostics */
  detail: string;
}

/**
 * new-disk: every layer is made; second-host: the layers the hosts share (partition,
 * array, LUKS, volume group) exist and are only opened, this host's volume is made;
 * reconnect (a rebuilt host): its volume exists too, so nothing on the disk is made.
 */
export type CreateMode = 'new-disk' | 'second-host' | 'reconnect';

/** What making the stack needs beyond the config it is made for. */
export interface CreateOptions {
  mode: CreateMode;
  /** the whole disk, e.g. /dev/sdb, and how the user knows it (its by-id name) */
  disk: string;
  diskName: string;
  /** the GPT partition label, unique per disk */
  label: string;
  /** this host's volume: "all" or a size like 250G */
  size: string;
  compression: 'zstd' | 'lzo' | 'zlib' | 'none';
  /** key derivation of new keyslots (cryptsetup's argon2id in production) */
  pbkdf: PbkdfOptions;
  /** reconnect: the SHA-512 of the token on the host's volume, as seen before the confirmation */
  existingTokenSha512?: string;
}

export type StepId =
  | 'wipe'
  | 'partition'
  | 'raid'
  | 'assemble'
  | 'mdadm-conf'
  | 'luks-format'
  | 'keyfile'
  | 'luks-open'
  | 'volume-group'
  | 'logical-volume'
  | 'activate'
  | 'mkfs'
  | 'fstab'
  | 'mount'
  | 'token'
  | 'config';

/** What a step's "already done?" check may use: the stack, and the passphrase (in memory; only ever on stdin). */
export interface MakeContext extends StackContext {
  passphrase: string;
}

/** What a step's own work beyond its commands may use: the stack, the passphrase, a line for the user. */
export interface StepContext extends MakeContext {
  say(line: string): void;
}

/**
 * A command of a plan, as data: what it runs (what the summary and a dry-run print)
 * and how, both said by the handler that makes it, so a flow only runs it.
 */
export interface StepCommand {
  argv: Argv;
  /** the passphrase goes on its stdin (never on argv) */
  input?: 'passphrase';
  /** why a non-zero exit is fine (then it is not an error) */
  mayFail?: string;
}

/** Runs a planned command; the passphrase only for one that takes it on stdin. */
export async function runCommand(runner: Runner, command: StepCommand, passphrase?: string): Promise<void> {
  if (command.input === 'passphrase' && passphrase === undefined)
    throw new InternalError(`${formatArgv(command.argv)} needs the passphrase, and there is none`);
  await runner.run(command.argv, {
    ...(command.input === 'passphrase' ? { input: passphrase } : {}),
    ...(command.mayFail ? { allowFailure: true } : {}),
  });
}

/** Commands that need nothing but to be run. */
export function plainCommands(...argvs: Argv[]): StepCommand[] {
  return argvs.map((argv) => ({ argv }));
}

/** One step of making a layer: the exact commands (what a dry-run prints) and the files it writes. */
export interface CreateStep {
  id: StepId;
  title: string;
  commands: StepCommand[];
  writes?: string[];
  /** the device the step makes: setup waits for udev to show it before going on */
  appears?: string;
  /**
   * Is it done already? Reads only. A setup stopped half-way (a power cut) is run
   * again and skips what is done; none: the step is run again (it is idempotent).
   */
  done?: (ctx: MakeContext) => Promise<boolean>;
  /** a step found done brings its layer up with the handler's own open (after a reboot) */
  bringUp?: (ctx: StackContext) => Promise<unknown>;
  /** before the commands, in a dry-run too (it then only notes what it would do): a check, a file the commands need */
  prepare?: (ctx: StepContext) => Promise<void>;
  /** instead of running `commands` (which only show what it reads): the step does them itself; not in a dry-run */
  run?: (ctx: StepContext) => Promise<void>;
  /** after the commands and the device they make: the host's files the layer keeps; not in a dry-run */
  finish?: (ctx: StepContext) => Promise<void>;
}

/** A query that changes nothing: did it succeed? */
export async function succeeds(ctx: Pick<StackContext, 'runner'>, argv: Argv, input?: string): Promise<boolean> {
  return (
    (await ctx.runner.query(argv, { allowFailure: true, ...(input === undefined ? {} : { input }) })).exitCode === 0
  );
}

/** A program a layer's handler runs, for doctor: `run` by open and close (an error when missing), `setup` only by setup and add-mirror (a warning). */
export interface Requirement {
  program: string;
  /** how doctor asks it for its version */
  argv: Argv;
  /** the Debian package that has it */
  pkg: string;
  use: 'run' | 'setup';
}

/** A kernel module a layer needs, for doctor (a warning when not loaded: opening loads it). */
export interface KernelModule {
  /** its name under /sys/module */
  module: string;
  /** how a person calls it */
  what: string;
}

/** One finding of doctor: what is checked, how it stands, and the fix. */
export interface HealthCheck {
  area: string;
  name: string;
  level: 'ok' | 'warn' | 'error';
  detail: string;
  fix?: string;
}

/** A udev property and the value that tells the backup disk (for the on-plug rule). */
export interface UdevMatch {
  key: 'ID_FS_UUID';
  value: string;
}

/** What setup asks a person only for some layers: the LUKS passphrase, the size of the host's volume. */
export type SetupQuestion = 'passphrase' | 'size';

/** The target as the on-plug rule's match reads it. */
export type PlugTarget = Pick<TargetConfig, 'array' | 'partition' | 'mountpoint'>;

/**
 * One layer of the backup disk's stack (see docs/ARCHITECTURE.md): the one place that
 * knows everything about its layer, so no other code switches on a layer's name.
 * open and close inspect first and leave a layer that is already in the wanted state alone.
 */
export interface LayerHandler {
  readonly name: string;
  /** the programs this layer needs; doctor checks those of the configured layers only */
  readonly requires?: readonly Requirement[];
  /** the kernel modules this layer needs; doctor checks those of the configured layers */
  readonly modules?: readonly KernelModule[];
  /** as the bottom of the stack: the GPT type of the partition it is made on (none: a filesystem's) */
  readonly partitionType?: string;
  /** the setup questions only this layer needs answered */
  readonly asks?: readonly SetupQuestion[];
  /** the device this layer gives the one above it; the filesystem is made on the topmost one */
  device?(target: TargetConfig): string;
  /** the [target] keys of this layer, as setup writes them into the config */
  configKeys?(target: TargetConfig): Record<string, string>;
  /** host files doctor checks are private: [file, what it is] */
  secrets?(target: TargetConfig): [string, string][];
  /** doctor's checks of what the host keeps for this layer */
  checks?(target: TargetConfig): Promise<HealthCheck[]>;
  /**
   * As the bottom of the stack: is the backup disk attached? `fsDevice` is the device the
   * filesystem is on. Reads only, synchronous (an unattended run's first question).
   */
  attached?(config: VaultConfig, fsDevice: string | undefined): boolean;
  /** as the bottom of the stack: what tells the backup disk to udev (undefined: it cannot be told now) */
  udevMatch?(runner: Runner, target: PlugTarget): Promise<UdevMatch | undefined>;
  /** setup's summary lines about this layer */
  summary?(spec: { mode: CreateMode; volumeGroup: string; host: string; size: string }): string[];
  /** what a person reads after setup made this layer: a next step */
  readonly afterSetup?: string;
  /** the steps that make this layer (or, when it exists already, bring it up), as data; pure */
  create(ctx: Pick<StackContext, 'config'>, o: CreateOptions): CreateStep[];
  inspect(ctx: StackContext): Promise<LayerState>;
  open(ctx: StackContext): Promise<'opened' | 'already-open'>;
  close(ctx: StackContext): Promise<'closed' | 'already-closed'>;
  /**
   * Dry-run, above a layer that was opened only on paper: prints (through the runner)
   * what open would run, without inspecting a device that cannot exist yet. Files of
   * the host (keyfile, token hash, fstab) are still checked: they are really there.
   */
  openOnPaper(ctx: StackContext): Promise<void>;
  /** Dry-run: prints what close would run for a layer that was opened only on paper. */
  closeOnPaper(ctx: StackContext): Promise<void>;
  /**
   * Work in progress that closing would stop (an array's resync): why, or undefined.
   * A run leaves such a layer up; an explicit close still closes it.
   */
  busy?(ctx: StackContext): Promise<string | undefined>;
}
