import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CommandFailedError, LockedError, UserError } from '../core/errors.js';
import { readFileNoFollow, writeFileNoFollow } from './no-follow.js';
import type { Argv, Runner } from './runner.js';

// Locks on what runs share (the backup target, each source), with flock(2) semantics:
// util-linux flock holds them all in one process that dies with this one, so a dead
// run's locks are free at once and a reused PID can never hold anything.

/** In /run, which only root can write (not /run/lock, which anyone can). */
export const LOCK_DIR = '/run/btrfs-vault/locks';
const CONFLICT = '75';

export interface LockKey {
  /** what is locked, for a person: "the backup target /media/backup" */
  what: string;
  /** its identity (device and resolved path): equal keys, one lock */
  key: string;
}

export interface Lock {
  release(): Promise<void>;
}

export function lockFile(key: string, dir = LOCK_DIR): string {
  return join(dir, `${createHash('sha256').update(key).digest('hex').slice(0, 24)}.lock`);
}

/** Takes every lock at once, or none: LockedError names who holds which. */
export async function acquireLocks(runner: Runner, keys: readonly LockKey[], owner: string, dir = LOCK_DIR): Promise<Lock> {
  privateDir(dir);
  const files = [...new Set(keys.map((k) => lockFile(k.key, dir)))];
  // flock -F execs the next flock in the same process, each keeping its lock open: one process holds them all
  const chain = files.flatMap((f) => ['flock', '-nFE', CONFLICT, f]);
  const held = await runner.hold([chain[0]!, [...chain.slice(1), 'cat']]);
  if (held.held) {
    for (const k of keys) writeFileNoFollow(`${lockFile(k.key, dir)}.owner`, `${process.pid}\n${owner}\n${k.what}\n`);
    return { release: () => held.release() };
  }
  if (String(held.exitCode) !== CONFLICT) throw new CommandFailedError(`flock ${files.join(' ')}`, held.exitCode, held.stderr);
  for (const k of keys) {
    const f = lockFile(k.key, dir);
    const probe = await runner.query(probeArgv(f), { allowFailure: true });
    if (String(probe.exitCode) !== CONFLICT) continue;
    const [pid, who] = (readFileNoFollow(`${f}.owner`) ?? '').split('\n');
    throw new LockedError(
      `another btrfs-vault run (pid ${pid || '?'}${who ? `, ${who}` : ''}) is working with ${k.what}`,
      `wait for it to finish and run again; nothing was done by this run (lock file ${f})`,
    );
  }
  throw new LockedError(`another btrfs-vault run held one of the locks ${files.join(', ')} for a moment`, 'run again');
}

function probeArgv(file: string): Argv {
  return ['flock', ['-nE', CONFLICT, file, 'true']];
}

function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const d of [dir, dir.slice(0, dir.lastIndexOf('/'))]) {
    const st = lstatSync(d);
    const euid = process.geteuid?.() ?? 0;
    if (!st.isDirectory() || st.uid !== euid || (st.mode & 0o022) !== 0) {
      throw new UserError(`the lock folder ${d} is not this user's alone (a link, another owner, or writable by others)`, `remove it (rm -r ${d}); btrfs-vault makes it again`);
    }
  }
}
