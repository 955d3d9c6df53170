import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InternalError, TargetError } from '../core/errors.js';
import { parseArrayLines } from '../core/mdstat.js';
import type { Runner } from '../system/runner.js';
import { closeStack, stackLayers } from '../stack/stack.js';
import { exists, waitForDevice } from '../stack/devices.js';
import { luksCommands, luksLayer } from '../stack/luks.js';
import { raidCommands, raidLayer } from '../stack/raid.js';
import { lvmCommands, lvmLayer } from '../stack/lvm.js';
import { filesystemLayer } from '../stack/filesystem.js';
import { partitionLayer } from '../stack/partition.js';
import type { StackContext } from '../stack/layer.js';
import { readMounts } from '../system/mounts.js';
import { mountPointProblem, mountPointUse, type MountPointUse } from '../stack/mount-point.js';
import { sha512 } from '../stack/token.js';
import { appendFileDurably, makeDirDurably, writeFileDurably } from './setup-files.js';
import { fstabLine, logicalVolumeDevice, partitionPath, setupConfig, type PlanStep, type SetupSpec, type StepId } from './setup-plan.js';
import { stringify } from 'smol-toml';
import { configSchema } from '../config/schema.js';
import { DEFAULT_SOURCE_RULES, DEFAULT_TARGET_RULES, type RetentionRules } from '../core/retention.js';

// How each setup step finds out that it is already done (so a resumed setup skips
// it) and what it does beyond its plain commands (waiting for udev, file writes).

export interface StepContext {
  runner: Runner;
  spec: SetupSpec;
  /** held in memory only; goes to cryptsetup on stdin */
  passphrase: string;
  say(line: string): void;
}

const MDADM_CONF = '/etc/mdadm/mdadm.conf';
const FSTAB = '/etc/fstab';

const ok = async (ctx: StepContext, argv: Parameters<Runner['query']>[0]) => (await ctx.runner.query(argv, { allowFailure: true })).exitCode === 0;

export const isDone: Partial<Record<StepId, (ctx: StepContext) => Promise<boolean>>> = {
  partition: async (ctx) => (await partitionLayer.inspect(setupStack(ctx))).up,
  raid: async (ctx) => (await exists(partitionPath(ctx.spec.label))) && ok(ctx, raidCommands.examine(partitionPath(ctx.spec.label))),
  assemble: async (ctx) => exists(ctx.spec.array),
  // a format cut short leaves a header without a usable keyslot: done only if the passphrase opens it
  'luks-format': async (ctx) =>
    (await ok(ctx, luksCommands.isLuks(ctx.spec.array))) &&
    (await ctx.runner.query(luksCommands.testPassphrase(ctx.spec.array), { input: ctx.passphrase, allowFailure: true })).exitCode === 0,
  keyfile: async (ctx) => (await exists(ctx.spec.keyfile)) && ok(ctx, luksCommands.testKeyfile(ctx.spec.array, ctx.spec.keyfile)),
  'luks-open': async (ctx) => exists(`/dev/mapper/${ctx.spec.luksName}`),
  'volume-group': async (ctx) => ok(ctx, ['vgs', [ctx.spec.volumeGroup]]),
  'logical-volume': async (ctx) => ok(ctx, ['lvs', [`${ctx.spec.volumeGroup}/${ctx.spec.host}`]]),
  activate: async (ctx) => (await ctx.runner.query(lvmCommands.attributes(ctx.spec.volumeGroup, ctx.spec.host), { allowFailure: true })).stdout.trim().charAt(4) === 'a',
  mkfs: async (ctx) => {
    const r = await ctx.runner.query(['blkid', ['-o', 'value', '-s', 'TYPE', logicalVolumeDevice(ctx.spec)]], { allowFailure: true });
    return r.stdout.trim() === 'btrfs';
  },
  // done only if the line names this host's volume; a line for another device is refused
  fstab: async (ctx) => (await ownMountPoint(ctx)).fstab.some((l) => l.ours),
  // done only if what is mounted there is this host's volume (by block device)
  mount: async (ctx) => (await ownMountPoint(ctx)).mountedIsOurs,
  token: async (ctx) => {
    if (!(await ownMountPoint(ctx)).mountedIsOurs) return false;
    try {
      const [token, line] = await Promise.all([readFile(ctx.spec.tokenFile), readFile(ctx.spec.tokenHashFile, 'utf8')]);
      return line.startsWith(sha512(token));
    } catch {
      return false;
    }
  },
  config: async (ctx) => exists(ctx.spec.configFile),
};

/** How the mount point is used; something foreign there (mounted, or in fstab) is refused. */
async function ownMountPoint(ctx: StepContext): Promise<MountPointUse> {
  const where = { mountpoint: ctx.spec.mountpoint, device: logicalVolumeDevice(ctx.spec) };
  const use = await mountPointUse(ctx.runner, where);
  const problem = mountPointProblem(use, where);
  if (problem) throw new TargetError(problem.message, problem.fix);
  return use;
}

/** Runs one step: its commands in order, with what each needs around it. */
export async function runStep(step: PlanStep, ctx: StepContext): Promise<void> {
  const { runner, spec } = ctx;
  const dry = runner.dryRun;
  const input = (argv: PlanStep['commands'][number]) =>
    argv[0] === 'cryptsetup' && (argv[1][0] === 'luksFormat' || argv[1][0] === 'luksAddKey') ? { input: ctx.passphrase } : {};
  switch (step.id) {
    case 'keyfile':
      if (!(await exists(spec.keyfile))) {
        runner.note(`write ${spec.keyfile} (1 KiB random, mode 0600)`);
        if (!dry) {
          // on the disk before luksAddKey: a keyslot for a key lost in a power cut could never be used
          makeDirDurably(dirname(spec.keyfile), 0o700);
          writeFileDurably(spec.keyfile, randomBytes(1024), { mode: 0o600, replace: false });
        }
      }
      break;
    case 'logical-volume': {
      const free = await runner.query(['vgs', ['--noheadings', '--units', 'b', '--nosuffix', '-o', 'vg_free', spec.volumeGroup]], { allowFailure: true });
      if (free.exitCode === 0 && Number(free.stdout.trim()) === 0) {
        throw new TargetError(
          `the volume group ${spec.volumeGroup} has no free space left for ${spec.host}: the volumes of other hosts use all of it`,
          `shrink another host's volume, or use a larger disk (see: lvs ${spec.volumeGroup})`,
        );
      }
      break;
    }
    case 'mount':
      runner.note(`mkdir -p ${spec.mountpoint}`);
      if (!dry) await mkdir(spec.mountpoint, { recursive: true });
      break;
  }
  for (const argv of step.commands) {
    if (step.id === 'mdadm-conf') continue; // a query, handled below
    // --zero-superblock fails on a partition without one; that is fine
    const allowFailure = (argv[0] === 'mdadm' && argv[1][0] === '--zero-superblock') || (argv[0] === 'partx');
    await runner.run(argv, { ...input(argv), allowFailure });
  }
  if (dry) return;
  switch (step.id) {
    case 'partition':
      if (!(await waitForDevice(partitionPath(spec.label)))) throw new TargetError(`the new partition ${partitionPath(spec.label)} did not appear`, 'run setup again (it resumes)');
      break;
    case 'raid':
    case 'assemble':
      if (!(await waitForDevice(spec.array))) throw new TargetError(`${spec.array} did not appear`, 'run setup again (it resumes)');
      break;
    case 'mdadm-conf':
      await recordArray(ctx);
      break;
    case 'logical-volume':
    case 'activate':
      if (!(await waitForDevice(logicalVolumeDevice(spec)))) throw new TargetError(`${logicalVolumeDevice(spec)} did not appear`, 'run setup again (it resumes)');
      break;
    case 'fstab':
      appendFileDurably(FSTAB, `${fstabLine(spec)}\n`);
      break;
    case 'token': {
      // the mount step may have been done by an earlier run: look again, right before writing
      if (!(await ownMountPoint(ctx)).mountedIsOurs) {
        throw new TargetError(`${spec.mountpoint} is not mounted from this host's backup volume ${logicalVolumeDevice(spec)}, so the token was not written`, 'run setup again (it resumes and mounts it)');
      }
      const token = spec.mode === 'reconnect' ? existingToken(spec) : randomBytes(64);
      // the token before its hash: after a power cut between them, they differ and the step runs again
      if (spec.mode !== 'reconnect') writeFileDurably(spec.tokenFile, token, { mode: 0o600, replace: true });
      makeDirDurably(dirname(spec.tokenHashFile), 0o700);
      writeFileDurably(spec.tokenHashFile, `${sha512(token)}  ${spec.tokenFile}\n`, { mode: 0o600, replace: true });
      break;
    }
    case 'config':
      writeFileDurably(spec.configFile, configText(spec), { mode: 0o600, replace: false });
      break;
  }
}

/**
 * Reconnecting: the token already on this host's volume, never through a symlink. It
 * must be the one seen before the confirmation (the passphrase is the proof that the
 * disk, and so the volume, belongs to whoever sets up this host).
 */
function existingToken(spec: SetupSpec): Buffer {
  let fd: number;
  try {
    fd = openSync(spec.tokenFile, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    throw new TargetError(`there is no token file ${spec.tokenFile} on this host's volume`, `check the volume (ls -la ${spec.mountpoint}); setup writes a token only on a volume it makes`);
  }
  try {
    const token = readFileSync(fd);
    if (spec.existing && sha512(token) !== spec.existing.tokenSha512) {
      throw new TargetError(`the token ${spec.tokenFile} changed since setup looked at the disk`, 'run setup again');
    }
    return token;
  } finally {
    closeSync(fd);
  }
}

/** The ARRAY line goes into mdadm.conf once; other lines stay as they are. */
async function recordArray(ctx: StepContext): Promise<void> {
  const { stdout } = await ctx.runner.query(raidCommands.detailBrief(ctx.spec.array));
  const line = stdout.split('\n').find((l) => l.startsWith('ARRAY '));
  if (!line) throw new TargetError(`mdadm --detail --brief ${ctx.spec.array} printed no ARRAY line`, 'check the array with: mdadm --detail ' + ctx.spec.array);
  const [mine] = parseArrayLines(line);
  const conf = await readFile(MDADM_CONF, 'utf8').catch(() => '');
  const present = parseArrayLines(conf).some((a) => a.uuid === mine?.uuid || a.device === ctx.spec.array);
  if (!present) {
    makeDirDurably(dirname(MDADM_CONF), 0o755);
    appendFileDurably(MDADM_CONF, `${conf === '' || conf.endsWith('\n') ? '' : '\n'}${line.trim()}\n`);
  }
  ctx.say(`${present ? 'already in' : 'added to'} ${MDADM_CONF}: ${line.trim()}`);
  ctx.say('hint: run update-initramfs -u if the array should also be known while booting');
}

/**
 * The config setup writes: built as data, checked with the very schema that loads it,
 * then written by smol-toml (a host name that would not load is a bug here, not a
 * config to find broken later). Retention is on, with the defaults.
 */
export function configText(spec: SetupSpec): string {
  const counts = (r: RetentionRules) => ({
    keep_last: r.keepLast,
    hourly: r.hourly,
    daily: r.daily,
    weekly: r.weekly,
    monthly: r.monthly === Infinity ? 'all' : r.monthly,
    yearly: r.yearly === Infinity ? 'all' : r.yearly,
  });
  const raw = {
    host: spec.host,
    target: {
      mountpoint: spec.mountpoint,
      layers: ['raid', 'luks', 'lvm'],
      array: spec.array,
      luks_name: spec.luksName,
      keyfile: spec.keyfile,
      volume_group: spec.volumeGroup,
      token_sha512: spec.tokenHashFile,
    },
    retention: { source: counts(DEFAULT_SOURCE_RULES), target: counts(DEFAULT_TARGET_RULES) },
  };
  const checked = configSchema.safeParse(raw);
  if (!checked.success) throw new InternalError(`setup made a config its own schema refuses: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return [
    '# written by btrfs-vault setup; see README, "Configuration"',
    '# sources = ["/", "/home"]   # add yours, or one path a line in the file `sources` beside this one',
    stringify(raw),
    '',
  ].join('\n');
}

/** The stack setup builds, as the layer handlers see it (the config it is about to write). */
function setupStack(ctx: StepContext): StackContext {
  return { runner: ctx.runner, config: setupConfig(ctx.spec), mounts: readMounts };
}

/**
 * A resumed setup (after a reboot or power cut) finds what earlier steps made, but
 * not necessarily running: a step that is already done brings its layer up with the
 * layer's own handler, so the steps after it find it as they need it.
 */
export const bringUp: Partial<Record<StepId, (ctx: StepContext) => Promise<unknown>>> = {
  raid: (ctx) => raidLayer.open(setupStack(ctx)),
  assemble: (ctx) => raidLayer.open(setupStack(ctx)),
  'luks-open': (ctx) => luksLayer.open(setupStack(ctx)),
  'logical-volume': (ctx) => lvmLayer.open(setupStack(ctx)),
  activate: (ctx) => lvmLayer.open(setupStack(ctx)),
  mount: async (ctx) => {
    await ownMountPoint(ctx); // nothing foreign there, before mounting over it
    return filesystemLayer.open(setupStack(ctx));
  },
};

/** Setup leaves the disk as every backup expects it: closed, by the same layer handlers. */
export async function closeAfterSetup(ctx: StepContext): Promise<void> {
  const stack = setupStack(ctx);
  const left = await closeStack(stack, { opened: stackLayers(stack), onPaper: false });
  if (left.length > 0) throw new TargetError(`setup is done, but the disk could not be closed:\n  ${left.join('\n  ')}`, 'run: btrfs-vault close');
}
