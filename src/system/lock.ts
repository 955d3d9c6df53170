import { createHash } from 'node:crypto';
import { escapeName } from '../core/byte-names.js';
import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
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
  // the notes before the locks: a run that finds a lock taken finds its holder's note,
  // however long this run takes to get on after the lock program said "held"
  const notes = writeNotes(named.map((k) => ({ file: k.file, text: `${process.pid}\n${owner}\n${k.what}\n` })));
  try {
    // a lock let go between the lock program's try and the look at who holds it: tried again
    for (let attempt = 1; ; attempt++) {
      const held = await runner.hold(holdArgv(files));
      if (held.held) {
        let released: Promise<void> | undefined;
        return { release: () => (released ??= held.release().finally(() => dropNotes(notes))) };
      }
      const taken = held.stderr.split('\n').at(-1) ?? '';
      const k = held.exitCode === CONFLICT ? named.find((x) => x.file === taken) : undefined;
      if (!k) throw new CommandFailedError(`perl (the lock program) ${files.join(' ')}`, held.exitCode, held.stderr);
      const holder = heldBy(taken);
      if (holder) throw refusal(k.what, taken, holder);
      if (attempt === 3)
        throw new LockedError(
          `another run held ${k.what} each time this run tried to take it, and had let it go each time this run looked`,
          `run again; nothing was done by this run (lock file ${taken})`,
        );
    }
  } catch (err) {
    dropNotes(notes);
    throw err;
  }
}

interface Holder {
  pid: number;
  /** the holder's run, from the note it wrote before it took the lock; none: not a btrfs-vault run */
  note?: { pid: string; who: string };
}

/**
 * Who holds `file` now: the process holding its flock and, when that process is the lock
 * program of a btrfs-vault run, that run's note. The holder is looked up again after the
 * note is read, so a run that let go in between is never taken for a stranger.
 */
function heldBy(file: string): Holder | undefined {
  let pid = lockHolder(file);
  for (let look = 1; pid !== undefined; look++) {
    const parent = parentOf(pid);
    const note = parent === undefined ? undefined : noteFile(file, parent);
    // this run's own note (written for this try) names a holder only when an earlier hold of this run shares it
    const ours = parent === process.pid && (liveNotes.get(note!) ?? 0) < 2;
    const text = note === undefined || ours ? undefined : readFileNoFollow(note);
    const still = lockHolder(file);
    // the lock changed hands while the note was read: the new holder is looked at (a few times)
    if (still !== pid && look < 5) {
      pid = still;
      continue;
    }
    if (text === undefined) return { pid };
    const [notePid = '', who = ''] = text.split('\n');
    return { pid, note: { pid: notePid, who } };
  }
  return undefined;
}

function refusal(what: string, file: string, holder: Holder): LockedError {
  const { pid, note } = holder;
  if (note)
    return new LockedError(
      `another btrfs-vault run (pid ${note.pid || '?'}${note.who ? `, ${note.who}` : ''}) is working with ${what}`,
      `wait for it to finish and run again; nothing was done by this run (lock file ${file})`,
    );
  return new LockedError(
    `${what} is locked by pid ${pid} (${commandOf(pid)}), not by a btrfs-vault run`,
    `wait for pid ${pid} to finish, or end it if it should not hold the lock (ps -o pid,args -p ${pid}); nothing was done by this run (lock file ${file})`,
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

/** The note of the run `pid` on `file`: named by that run, so each run's is its own. */
function noteFile(file: string, pid: number): string {
  return `${file}.owner.${pid}`;
}

/** The notes this process has written and not yet removed, by path: a second hold of one file shares the first's. */
const liveNotes = new Map<string, number>();

/**
 * Who holds a lock, for another run's message, written before the lock is taken and
 * removed after it is let go. Written in place, not through a temporary file and a
 * rename (two more system calls and a sync per lock, per source): a torn read only
 * blurs a message. Never through a symlink, though the folder is private. A killed
 * run's notes stay (in /run, gone at reboot); a later run with its pid writes its own.
 */
function writeNotes(notes: readonly { file: string; text: string }[]): string[] {
  const written: string[] = [];
  try {
    for (const { file, text } of notes) {
      const path = noteFile(file, process.pid);
      if (written.includes(path)) continue;
      const live = liveNotes.get(path) ?? 0;
      if (live === 0) writeOwner(path, text);
      liveNotes.set(path, live + 1);
      written.push(path);
    }
  } catch (err) {
    dropNotes(written);
    throw err;
  }
  return written;
}

function dropNotes(paths: readonly string[]): void {
  for (const path of paths) {
    const live = (liveNotes.get(path) ?? 1) - 1;
    if (live > 0) {
      liveNotes.set(path, live);
      continue;
    }
    liveNotes.delete(path);
    try {
      unlinkSync(path);
    } catch {
      /* gone already */
    }
  }
}

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
