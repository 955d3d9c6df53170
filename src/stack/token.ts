import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readBytesNoFollow } from '../system/no-follow.js';
import { assertPrivateFileNow } from '../config/permissions.js';
import { TargetError, UserError } from '../core/errors.js';
import type { NamedTargetConfig, VaultConfig } from '../config/config.js';
import { currentTarget } from '../config/target-view.js';
import type { CreateOptions, HealthCheck, LayerHandler, LayerState, StackContext, StepContext } from './layer.js';
import { filesystemDevice } from './layers.js';
import { ownMountPoint } from './mount-point.js';

/** `sha512sum` format: "<hex>  <file>"; the first field is the hash. */
export function parseHashFile(text: string): string | undefined {
  const m = /^\\?([0-9a-f]{128})\s/m.exec(text.trim() + '\n');
  return m?.[1];
}

export function sha512(data: Buffer): string {
  return createHash('sha512').update(data).digest('hex');
}

export type TokenCheck = { ok: true } | { ok: false; reason: string };

/** The hash kept on the host: private, and a SHA-512 line. */
function expectedHash(config: VaultConfig): string {
  const { tokenFile, tokenHashFile } = config.target;
  assertPrivateFileNow(tokenHashFile, 'token hash');
  const expected = parseHashFile(readFileSync(tokenHashFile, 'utf8'));
  if (!expected) {
    throw new UserError(`${tokenHashFile} holds no SHA-512 hash`, `it must be the output of: sha512sum ${tokenFile}`);
  }
  return expected;
}

/**
 * Is the filesystem at the target's mount point this target's disk? The one check of
 * every verb: before a run writes (the token layer's open) and before anything reads a
 * disk's backups to decide (list, restore's choice of disk, a mounted disk's pins, status).
 */
export function checkToken(config: VaultConfig): TokenCheck {
  const { tokenFile, tokenHashFile } = config.target;
  const expected = expectedHash(config);
  let token: Buffer;
  try {
    token = readFileSync(tokenFile);
  } catch {
    return { ok: false, reason: `there is no token file ${tokenFile} on it` };
  }
  if (sha512(token) !== expected)
    return { ok: false, reason: `its token ${tokenFile} does not match ${tokenHashFile}` };
  // one disk under two names would be counted as two copies, each with a chain and pins of its own
  const here = currentTarget(config).name;
  const twin = (config.targets ?? []).find((t) => t.name !== here && keptHash(t.tokenHashFile) === expected);
  if (twin)
    return {
      ok: false,
      reason: `its token matches both ${tokenHashFile} and ${twin.tokenHashFile}: it is the backup disk ${twin.name} too, and one disk under two names is one copy, not two (remove one of the two target tables from ${config.file})`,
    };
  return { ok: true };
}

/** The refusal of a disk whose token is not this target's: what it is, and the fix. */
export function foreignDiskError(config: VaultConfig, reason: string, done = 'nothing was written'): TargetError {
  return new TargetError(
    `refusing the backup filesystem at ${config.target.mountpoint}: ${reason}. ` +
      `It is not the backup disk set up for this host, and writing to a foreign disk could destroy someone else's backups; ${done}`,
    `attach this host's backup disk, or, if this is the right disk, check target.token and target.token_sha512 in ${config.file}`,
  );
}

/** A disk's backups are read only once its token matched: a foreign disk is refused (TargetError), never read. */
export function assertOurDisk(config: VaultConfig, done = 'nothing was read from it'): void {
  const check = checkToken(config);
  if (!check.ok) throw foreignDiskError(config, check.reason, done);
}

/** Setup's token step is done: this host's volume is mounted, and the hash kept on the host is its token's. */
async function tokenKept(ctx: StackContext): Promise<boolean> {
  if (!(await ownMountPoint(ctx)).mountedIsOurs) return false;
  const { tokenFile, tokenHashFile } = ctx.config.target;
  try {
    return readFileSync(tokenHashFile, 'utf8').startsWith(sha512(readFileSync(tokenFile)));
  } catch {
    return false;
  }
}

/**
 * Setup's token: a new one, or reconnecting, the one already on this host's volume.
 * Only onto this host's own volume: the mount step may have been done by an earlier
 * run, so what is mounted is looked at again right before writing.
 */
async function writeToken(ctx: StepContext, o: CreateOptions): Promise<void> {
  const { mountpoint, tokenFile, tokenHashFile } = ctx.config.target;
  if (!(await ownMountPoint(ctx)).mountedIsOurs) {
    throw new TargetError(
      `${mountpoint} is not mounted from this host's backup volume ${filesystemDevice(ctx.config.target)}, so the token was not written`,
      'run setup again (it resumes and mounts it)',
    );
  }
  const token = o.mode === 'reconnect' ? existingToken(ctx, o.existingTokenSha512) : randomBytes(64);
  // the token before its hash: after a power cut between them, they differ and the step runs again
  if (o.mode !== 'reconnect')
    ctx.runner.change({ op: 'write-durably', path: tokenFile, data: token, mode: 0o600, replace: true });
  ctx.runner.change({
    op: 'write-durably',
    path: tokenHashFile,
    data: `${sha512(token)}  ${tokenFile}\n`,
    mode: 0o600,
    replace: true,
    folder: 0o700,
  });
}

/**
 * Reconnecting: the token already on this host's volume, never through a symlink. It
 * must be the one seen before the confirmation (the passphrase is the proof that the
 * disk, and so the volume, belongs to whoever sets up this host).
 */
function existingToken(ctx: StackContext, seen: string | undefined): Buffer {
  const { tokenFile, mountpoint } = ctx.config.target;
  const token = readBytesNoFollow(tokenFile);
  if (!token)
    throw new TargetError(
      `there is no token file ${tokenFile} on this host's volume`,
      `check the volume (ls -la ${mountpoint}); setup writes a token only on a volume it makes`,
    );
  if (seen !== undefined && sha512(token) !== seen)
    throw new TargetError(`the token ${tokenFile} changed since setup looked at the disk`, 'run setup again');
  return token;
}

/**
 * The token: a random file on the backup filesystem whose SHA-512 is kept on the
 * host. A disk without the matching token is someone else's, and is refused.
 */
export const tokenLayer: LayerHandler = {
  name: 'token',

  create(ctx, o) {
    const { tokenFile, tokenHashFile } = ctx.config.target;
    if (o.mode === 'reconnect') {
      return [
        {
          id: 'token',
          title: 'Keep the SHA-512 of the token already on the volume (the passphrase proved the disk is yours)',
          commands: [],
          writes: [`${tokenHashFile}: the sha512sum line of ${tokenFile}, mode 0600 (the token itself is not changed)`],
          done: tokenKept,
          finish: (c) => writeToken(c, o),
        },
      ];
    }
    return [
      {
        id: 'token',
        title: 'Write the token and keep its SHA-512 on this host',
        commands: [],
        writes: [`${tokenFile}: 64 random bytes`, `${tokenHashFile}: its sha512sum line, mode 0600`],
        done: tokenKept,
        finish: (c) => writeToken(c, o),
      },
    ];
  },

  async inspect(ctx): Promise<LayerState> {
    const check = checkToken(ctx.config);
    return check.ok ? { up: true, detail: 'token matches' } : { up: false, detail: check.reason };
  },

  async open(ctx) {
    assertOurDisk(ctx.config, 'nothing was written');
    return 'already-open';
  },

  async close() {
    return 'already-closed';
  },

  async openOnPaper(ctx) {
    const { tokenFile, tokenHashFile } = ctx.config.target;
    expectedHash(ctx.config);
    ctx.runner.note(
      `check the token: the SHA-512 of ${tokenFile} must match ${tokenHashFile}, else the disk is refused`,
    );
  },

  async closeOnPaper() {},
};

/** A hash file's SHA-512, or undefined when it cannot be read (doctor names that on its own). */
function keptHash(file: string): string | undefined {
  try {
    return parseHashFile(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * doctor, with several backup disks: each disk mounted at a target's mount point is
 * told by its token: that target's own, another target's (mounted at the wrong place),
 * or none of the configured disks' (its hash file went stale, or it is not a disk of
 * this host). Reads only; the token is never shown, nor its hash.
 */
export function tokenAgreement(targets: readonly NamedTargetConfig[]): HealthCheck[] {
  const hashes = targets.map((t) => ({ name: t.name, file: t.tokenHashFile, hash: keptHash(t.tokenHashFile) }));
  const checks: HealthCheck[] = [];
  for (const t of targets) {
    const token = readBytesNoFollow(t.tokenFile);
    // nothing mounted there (the disk is away): nothing to tell
    if (!token) continue;
    const hash = sha512(token);
    const owner = hashes.find((h) => h.hash === hash);
    const where = `the disk mounted at ${t.mountpoint}`;
    if (owner?.name === t.name)
      checks.push({
        area: 'disk',
        name: `token ${t.name}`,
        level: 'ok',
        detail: `${where} is the backup disk ${t.name}: its token matches ${t.tokenHashFile}`,
      });
    else if (owner)
      checks.push({
        area: 'disk',
        name: `token ${t.name}`,
        level: 'error',
        detail: `${where} (the backup disk ${t.name}'s place) is the backup disk ${owner.name}: its token matches ${owner.file}`,
        fix: `unmount it (umount ${t.mountpoint}) and let btrfs-vault open it: btrfs-vault open --target ${owner.name}`,
      });
    else
      checks.push({
        area: 'disk',
        name: `token ${t.name}`,
        level: 'error',
        detail: `${where} holds a token whose hash matches none of the configured backup disks' (${hashes.map((h) => h.file).join(', ')}): its hash file went stale, or it is not a backup disk of this host`,
        fix: `if it is this host's disk ${t.name}, write its hash again (sha512sum ${t.tokenFile} > ${t.tokenHashFile}, as root, mode 0600); otherwise unmount it`,
      });
  }
  return checks;
}
