import { createHash } from 'node:crypto';
import { escapeName } from '../core/byte-names.js';
import { closeSync, constants, lstatSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CommandFailedError, LockedError, UserError } from '../core/errors.js';
import { readFileNoFollow } from './no-follow.js';
import { perlOneLine } from './perl-program.js';
import holdLocks from './hold-locks.pl.js';
import type { Argv, Runner } from './runner.js';

// Locks on what runs share (the backup target, each source), with flock(2) semantics:
// one perl process (perl-base is Essential on Debian) takes them all and holds them
// until its stdin closes or this process dies, so a dead run's locks are free at once
// and a reused PID can never hold anything. One program for every lock, not a chain of
// util-linux `flock -F`: that is one exec per lock, a cost that grows with the sources.

/** In /run, which only root can write (not /run/lock, which anyone can). */
export const LOCK_DIR = '/run/btrfs-vault/locks';
const CONFLICT = 75;

/** Takes every lock or none and holds them until stdin ends (the program's file says how). */
const HOLD_ALL = perlOneLine(holdLocks);

export interface LockKey {
  /** what is locked, for a person: "the backup target /media/backup" */
  what: string;
  /** its identity (device and resolved path): equal keys, one lock */
  key: string;
}

export interface Lock {
  /** frees every lock taken; a second call does nothing more */
  release(): Promise<void>;
}

export function lockFile(key: string, dir = LOCK_DIR): string {
  return join(dir, `${createHash('sha256').update(key).digest('hex').slice(0, 24)}.lock`);
}

/** Takes every lock at once, or none: LockedError names who holds which. */
export async function acquireLocks(
  runner: Runner,
  keys: readonly LockKey[],
  owner: string,
  dir = LOCK_DIR,
): Promise<Lock> {
  privateDir(dir);
  const named = keys.map((k) => ({ ...k, file: lockFile(k.key, dir) }));
  const files = [...new Set(named.map((k) => k.file))];
  const held = await runner.hold(holdArgv(files));
  if (held.held) {
    try {
      for (const k of named) writeOwner(`${k.file}.owner`, `${process.pid}\n${owner}\n${k.what}\n`);
    } catch (err) {
      // never a lock held by nobody's record: the lock process would wait for ever
      await held.release();
      throw err;
    }
    let released: Promise<void> | undefined;
    return { release: () => (released ??= held.release()) };
  }
  const taken = held.stderr.split('\n').at(-1) ?? '';
  const k = held.exitCode === CONFLICT ? named.find((x) => x.file === taken) : undefined;
  if (!k) throw new CommandFailedError(`perl (the lock program) ${files.join(' ')}`, held.exitCode, held.stderr);
  const note = () => (readFileNoFollow(`${taken}.owner`) ?? '').split('\n');
  let [pid, who] = note();
  let holder = lockHolder(taken);
  // the note is the holder's when the holder is that run's lock process (its child); a
  // run that has just taken the lock writes its note right after: give it that moment
  for (let i = 0; i < 10 && holder !== undefined && parentOf(holder) !== Number(pid); i++) {
    await new Promise((r) => setTimeout(r, 20));
    [pid, who] = note();
    holder = lockHolder(taken);
  }
  if (holder === undefined || parentOf(holder) === Number(pid)) {
    throw new LockedError(
      `another btrfs-vault run (pid ${pid || '?'}${who ? `, ${who}` : ''}) is working with ${k.what}`,
      `wait for it to finish and run again; nothing was done by this run (lock file ${taken})`,
    );
  }
  throw new LockedError(
    `${k.what} is locked by pid ${holder} (${commandOf(holder)}), not by a btrfs-vault run that left a note (the lock's note names pid ${pid || '?'}${who ? `, ${who}` : ''}, which has ended)`,
    `wait for pid ${holder} to finish, or end it if it should not hold the lock (ps -o pid,args -p ${holder}); nothing was done by this run (lock file ${taken})`,
  );
}

/** The process holding the flock on `file`, from /proc/locks (its device and inode). */
function lockHolder(file: string): number | undefined {
  let st;
  try {
    st = statSync(file);
  } catch {
    return undefined;
  }
  // the kernel writes major:minor in hex; Linux's dev_t: minor in bits 0-7 and 20-31, major in 8-19
  const major = (st.dev >> 8) & 0xfff;
  const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
  const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
  for (const line of readProc('/proc/locks').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === 'FLOCK' && f[5] === id) return Number(f[4]);
  }
  return undefined;
}

function parentOf(pid: number): number | undefined {
  const m = /^PPid:\s+(\d+)$/m.exec(readProc(`/proc/${pid}/status`));
  return m ? Number(m[1]) : undefined;
}

/** The holder's program name only: its arguments are its own business (they may carry what its author keeps private). */
function commandOf(pid: number): string {
  return escapeName(readProc(`/proc/${pid}/comm`).trim()) || 'program unknown';
}

function readProc(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The one program that takes and holds every lock (see HOLD_ALL). */
export function holdArgv(files: readonly string[]): Argv {
  return ['perl', ['-e', HOLD_ALL, '--', ...files]];
}

/**
 * Who holds a lock, for another run's message: written in place, not through a
 * temporary file and a rename (two more system calls and a sync per lock, per source);
 * a torn read only blurs a message. Never through a symlink, though the folder is private.
 */
function writeOwner(path: string, text: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** A folder of root's alone (and its parent): made if missing, refused if anyone else could change it. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const d of [dir, dir.slice(0, dir.lastIndexOf('/'))]) {
    const st = lstatSync(d);
    const euid = process.geteuid?.() ?? 0;
    if (!st.isDirectory() || st.uid !== euid || (st.mode & 0o022) !== 0) {
      throw new UserError(
        `the lock folder ${d} is not this user's alone (a link, another owner, or writable by others)`,
        `remove it (rm -r ${d}); btrfs-vault makes it again`,
      );
    }
  }
}
