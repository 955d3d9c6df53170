import { randomBytes } from 'node:crypto';
import { assertPrivateFile } from '../config/permissions.js';
import { CommandFailedError, TargetError } from '../core/errors.js';
import type { Argv } from '../system/runner.js';
import { exists } from './devices.js';
import {
  plainCommands,
  succeeds,
  type LayerHandler,
  type LayerState,
  type MakeContext,
  type StackContext,
  type StepContext,
} from './layer.js';
import { deviceBelow } from './layers.js';
import { partitionAttached, partitionUdevMatch } from './partition.js';

/** Test-only key derivation settings (argon2 is very slow under emulation); production uses cryptsetup's defaults. */
export interface PbkdfOptions {
  pbkdf?: 'pbkdf2' | 'argon2id' | 'argon2i';
  iterations?: number;
  /** argon2 memory cap in KiB, so a small machine can still open the disk */
  memoryKiB?: number;
}

/**
 * Setup keeps cryptsetup's default algorithms (argon2id) but caps its memory at
 * 256 MiB, so a small machine can still open the disk.
 */
export const SETUP_PBKDF: PbkdfOptions = { memoryKiB: 262144 };

function pbkdfArgs(o: PbkdfOptions = {}): string[] {
  return [
    ...(o.pbkdf ? ['--pbkdf', o.pbkdf] : []),
    ...(o.iterations ? ['--pbkdf-force-iterations', String(o.iterations)] : []),
    ...(o.memoryKiB ? ['--pbkdf-memory', String(o.memoryKiB)] : []),
  ];
}

// The passphrase always travels on stdin (`--key-file=-`), never on argv or in the environment.
export const luksCommands = {
  format: (device: string, o?: PbkdfOptions): Argv => [
    'cryptsetup',
    ['luksFormat', '--batch-mode', '--type', 'luks2', ...pbkdfArgs(o), '--key-file=-', '--', device],
  ],
  addKeyfile: (device: string, keyfile: string, o?: PbkdfOptions): Argv => [
    'cryptsetup',
    ['luksAddKey', '--batch-mode', ...pbkdfArgs(o), '--key-file=-', '--', device, keyfile],
  ],
  open: (device: string, name: string, keyfile: string): Argv => [
    'cryptsetup',
    ['open', '--type', 'luks', '--key-file', keyfile, '--', device, name],
  ],
  /** opens with the passphrase on stdin (setup's look into an existing disk, before this host has a keyfile) */
  openWithPassphrase: (device: string, name: string): Argv => [
    'cryptsetup',
    ['open', '--type', 'luks', '--key-file=-', '--', device, name],
  ],
  close: (name: string): Argv => ['cryptsetup', ['close', '--', name]],
  isLuks: (device: string): Argv => ['cryptsetup', ['isLuks', '--', device]],
  /** does the passphrase on stdin open the device? (changes nothing) */
  testPassphrase: (device: string): Argv => ['cryptsetup', ['open', '--test-passphrase', '--key-file=-', '--', device]],
  /** does this keyfile open the device? (changes nothing) */
  testKeyfile: (device: string, keyfile: string): Argv => [
    'cryptsetup',
    ['open', '--test-passphrase', '--key-file', keyfile, '--', device],
  ],
};

/** What LUKS sits on: the layer below it (the array), or the partition. */
export function luksDevice(ctx: Pick<StackContext, 'config'>): string {
  return deviceBelow(ctx.config.target, luksLayer);
}

/**
 * A new random keyfile, kept if it exists (a resume adds the one written before). On
 * the disk before luksAddKey: a keyslot for a key lost in a power cut could never be used.
 */
async function writeKeyfile(ctx: StepContext, keyfile: string): Promise<void> {
  if (await exists(keyfile)) return;
  ctx.runner.change({
    op: 'write-durably',
    path: keyfile,
    data: randomBytes(1024),
    mode: 0o600,
    replace: false,
    about: '1 KiB random',
    folder: 0o700,
  });
}

export const luksLayer: LayerHandler = {
  name: 'luks',
  requires: [{ program: 'cryptsetup', argv: ['cryptsetup', ['--version']], pkg: 'cryptsetup-bin', use: 'run' }],
  modules: [{ module: 'dm_crypt', what: 'dm-crypt' }],
  asks: ['passphrase'],
  device: (t) => `/dev/mapper/${t.luksName}`,
  configKeys: (t) => ({ luks_name: t.luksName, keyfile: t.keyfile }),
  secrets: (t) => [[t.keyfile, 'keyfile']],
  attached: partitionAttached,
  udevMatch: partitionUdevMatch,

  create(ctx, o) {
    const { keyfile, luksName } = ctx.config.target;
    const device = luksDevice(ctx);
    return [
      ...(o.mode === 'new-disk'
        ? [
            {
              id: 'luks-format' as const,
              title: `Encrypt ${device} with LUKS2 (the passphrase is the first key)`,
              commands: [{ argv: luksCommands.format(device, o.pbkdf), input: 'passphrase' as const }],
              // a format cut short leaves a header without a usable keyslot: done only if the passphrase opens it
              done: async (c: MakeContext) =>
                (await succeeds(c, luksCommands.isLuks(device))) &&
                succeeds(c, luksCommands.testPassphrase(device), c.passphrase),
            },
          ]
        : []),
      {
        id: 'keyfile',
        title: `Add a random keyfile ${keyfile} as a second key`,
        commands: [{ argv: luksCommands.addKeyfile(device, keyfile, o.pbkdf), input: 'passphrase' }],
        writes: [`${keyfile}: 1 KiB random, mode 0600`],
        done: async (c) => (await exists(keyfile)) && succeeds(c, luksCommands.testKeyfile(device, keyfile)),
        prepare: (c) => writeKeyfile(c, keyfile),
      },
      {
        id: 'luks-open',
        title: `Open LUKS as ${luksName}`,
        commands: plainCommands(openCommand(ctx)),
        done: async (c) => (await luksLayer.inspect(c)).up,
        bringUp: (c) => luksLayer.open(c),
      },
    ];
  },

  async inspect(ctx): Promise<LayerState> {
    const mapped = `/dev/mapper/${ctx.config.target.luksName}`;
    const up = await exists(mapped);
    return { up, detail: up ? `${mapped} open (on ${luksDevice(ctx)})` : `${mapped} closed` };
  },

  async open(ctx) {
    const { luksName, keyfile } = ctx.config.target;
    if (await exists(`/dev/mapper/${luksName}`)) return 'already-open';
    await assertPrivateFile(keyfile, 'keyfile');
    const device = luksDevice(ctx);
    if (!(await exists(device)))
      throw new TargetError(
        `${device} does not exist, so LUKS cannot be opened`,
        'plug in the backup disk, then run again',
      );
    try {
      await ctx.runner.run(openCommand(ctx));
    } catch (err) {
      if (err instanceof CommandFailedError && /No key available/i.test(err.stderr)) {
        throw new TargetError(
          `the keyfile ${keyfile} does not open ${device}: this is not the backup disk set up for this host, or the key was changed`,
          'attach the right disk; with its passphrase you can add this keyfile again: cryptsetup luksAddKey ' +
            device +
            ' ' +
            keyfile,
        );
      }
      throw err;
    }
    return 'opened';
  },

  async close(ctx) {
    const { luksName } = ctx.config.target;
    if (!(await exists(`/dev/mapper/${luksName}`))) return 'already-closed';
    await ctx.runner.run(luksCommands.close(luksName));
    return 'closed';
  },

  async openOnPaper(ctx) {
    await assertPrivateFile(ctx.config.target.keyfile, 'keyfile');
    await ctx.runner.run(openCommand(ctx));
  },

  async closeOnPaper(ctx) {
    await ctx.runner.run(luksCommands.close(ctx.config.target.luksName));
  },
};

function openCommand(ctx: Pick<StackContext, 'config'>): Argv {
  const { luksName, keyfile } = ctx.config.target;
  return luksCommands.open(luksDevice(ctx), luksName, keyfile);
}
