import { randomBytes } from 'node:crypto';
import { readBytesNoFollow } from '../system/no-follow.js';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InternalError, TargetError } from '../core/errors.js';
import { parseArrayLines } from '../core/mdstat.js';
import type { Runner } from '../system/runner.js';
import type { VaultConfig } from '../config/config.js';
import { closeStack, stackLayers } from '../stack/stack.js';
import { exists, waitForDevice } from '../stack/devices.js';
import { raidCommands } from '../stack/raid.js';
import type { StackContext } from '../stack/layer.js';
import { readMounts } from '../system/mounts.js';
import { ownMountPoint as ownTargetMountPoint, type MountPointUse } from '../stack/mount-point.js';
import { sha512 } from '../stack/token.js';
import { appendFileDurably, makeDirDurably, writeFileDurably } from './setup-files.js';
import { fstabLine, logicalVolumeDevice, setupConfig, type PlanStep, type SetupSpec } from './setup-plan.js';
import { stringify } from 'smol-toml';
import { configSchema } from '../config/schema.js';
import { DEFAULT_SOURCE_RULES, DEFAULT_TARGET_RULES, type RetentionRules } from '../core/retention.js';

// What each setup step does beyond its plain commands (waiting for udev, file
// writes). Whether a step is done already, and how its layer comes up again after a
// reboot, is the layer handler's (its `create` steps' `done` and `bringUp`).

export interface StepContext {
  runner: Runner;
  spec: SetupSpec;
  /** held in memory only; goes to cryptsetup on stdin */
  passphrase: string;
  say(line: string): void;
}

const MDADM_CONF = '/etc/mdadm/mdadm.conf';
const FSTAB = '/etc/fstab';

/** How the mount point is used; something foreign there (mounted, or in fstab) is refused. */
async function ownMountPoint(ctx: StepContext): Promise<MountPointUse> {
  return ownTargetMountPoint(setupStack(ctx));
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
  // udev makes the node of what the step made a moment later
  if (step.appears && !(await waitForDevice(step.appears))) throw new TargetError(`${step.appears} did not appear`, 'run setup again (it resumes)');
  switch (step.id) {
    case 'mdadm-conf':
      await recordArray(ctx);
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
      writeFileDurably(spec.configFile, configText(setupConfig(spec)), { mode: 0o600, replace: false });
      break;
  }
}

/**
 * Reconnecting: the token already on this host's volume, never through a symlink. It
 * must be the one seen before the confirmation (the passphrase is the proof that the
 * disk, and so the volume, belongs to whoever sets up this host).
 */
function existingToken(spec: SetupSpec): Buffer {
  const token = readBytesNoFollow(spec.tokenFile);
  if (!token) throw new TargetError(`there is no token file ${spec.tokenFile} on this host's volume`, `check the volume (ls -la ${spec.mountpoint}); setup writes a token only on a volume it makes`);
  if (spec.existing && sha512(token) !== spec.existing.tokenSha512) {
    throw new TargetError(`the token ${spec.tokenFile} changed since setup looked at the disk`, 'run setup again');
  }
  return token;
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
 * config to find broken later). Retention is on, with the defaults. Made from the
 * same description of the target that the plan's layers came from.
 */
export function configText(config: VaultConfig): string {
  const t = config.target;
  const counts = (r: RetentionRules) => ({
    keep_last: r.keepLast,
    hourly: r.hourly,
    daily: r.daily,
    weekly: r.weekly,
    monthly: r.monthly === Infinity ? 'all' : r.monthly,
    yearly: r.yearly === Infinity ? 'all' : r.yearly,
  });
  const raw = {
    host: config.host,
    target: {
      mountpoint: t.mountpoint,
      layers: [...t.layers],
      array: t.array,
      luks_name: t.luksName,
      keyfile: t.keyfile,
      volume_group: t.volumeGroup,
      token_sha512: t.tokenHashFile,
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
export function setupStack(ctx: StepContext): StackContext {
  return { runner: ctx.runner, config: setupConfig(ctx.spec), mounts: readMounts };
}

/** Setup leaves the disk as every backup expects it: closed, by the same layer handlers. */
export async function closeAfterSetup(ctx: StepContext): Promise<void> {
  const stack = setupStack(ctx);
  const left = await closeStack(stack, { opened: stackLayers(stack), onPaper: false });
  if (left.length > 0) throw new TargetError(`setup is done, but the disk could not be closed:\n  ${left.join('\n  ')}`, 'run: btrfs-vault close');
}
