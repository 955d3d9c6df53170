import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { ExitCode, isVaultError, UserError } from '../core/errors.js';
import { pausePoint } from './kill-point.js';
import { acquireLocks, type Lock } from './lock.js';
import { readFileNoFollow } from './no-follow.js';
import type { Runner } from './runner.js';

// What the host remembers of its backups, so `status` can answer with the backup disk
// closed or away: per source the last successful backup, and when the disk was last
// seen. One small JSON file per config, replaced whole at the end of each run. Runs on
// different disks (each holding its own disk's lock) may end at once: the record is read,
// changed and written under a lock of its own, held for that moment only.

export const HOST_RECORD_DIR = '/var/lib/btrfs-vault';

export interface SourceRecord {
  path: string;
  /** ISO time the last successful backup of this source finished */
  lastSuccess?: string;
  snapshot?: string;
  mode?: string;
  bytes?: number;
  seconds?: number;
  /** ISO time of the last run that failed for this source, and why */
  lastFailure?: string;
  lastError?: string;
}

/** A snapshot as a pin: its name in the source's snapshot folder, and its UUID (a name may be made again). */
export interface PinRecord {
  snapshot: string;
  uuid?: string;
}

/** What the host remembers of one backup disk (by its name in the config). */
export interface TargetRecord {
  /** ISO time the disk was last opened and its token accepted */
  seen?: string;
  /** ISO time of its last backup in which a source succeeded */
  lastBackup?: string;
  /** per source: the newest snapshot this disk holds, kept on the source while the disk is away */
  pins?: Record<string, PinRecord>;
}

export interface HostRecord {
  config: string;
  /** ISO time the backup target was last opened and its token accepted */
  targetSeen?: string;
  lastRun?: { at: string; exitCode: number };
  /** the mirror was seen whole ([UU]) once: degraded from now on is a warning, not the design */
  mirrored?: boolean;
  /** ISO time stale backups were last notified (at most once a day) */
  lastStaleNotice?: string;
  sources: Record<string, SourceRecord>;
  /** per backup disk, by name: when it was seen, its last backup, its pins */
  targets?: Record<string, TargetRecord>;
}

export function hostRecordFile(configFile: string, dir = HOST_RECORD_DIR): string {
  return join(dir, `${createHash('sha256').update(configFile).digest('hex').slice(0, 24)}.json`);
}

/** The record, for reading: one that is missing, or not a record (hostRecordProblem says), reads as empty. */
export function readHostRecord(configFile: string, dir = HOST_RECORD_DIR): HostRecord {
  const r = parsed(configFile, dir);
  return typeof r === 'object' ? { ...r, ...targetsOf(r) } : { config: configFile, sources: {} };
}

/** Why the file is not a record btrfs-vault can read and replace; undefined: a record, or none yet. */
export function hostRecordProblem(configFile: string, dir = HOST_RECORD_DIR): string | undefined {
  const r = parsed(configFile, dir);
  return typeof r === 'string' ? r : undefined;
}

/** The record, undefined when there is none, or what is wrong with the file. */
function parsed(configFile: string, dir: string): HostRecord | string | undefined {
  const file = hostRecordFile(configFile, dir);
  let text;
  try {
    text = readFileNoFollow(file);
  } catch (err) {
    return `it cannot be read (${(err as Error).message})`;
  }
  if (text === undefined) return undefined;
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    return 'it is not JSON (edited by hand, or written by something else)';
  }
  if (!isObject(r) || !isObject(r.sources)) return 'it is not a record of backups (no "sources" object)';
  return r as unknown as HostRecord;
}

/** How long a run waits for another run's moment with the record (a write and a sync). */
const RECORD_WAIT_MS = 20_000;

/**
 * Read, change and write the record under its own lock (never held across a transfer:
 * only this), so two runs ending at once both count. A file that is not a record is
 * left as it is: refused with the fix, never replaced by an empty one.
 */
export async function updateHostRecord(
  runner: Runner,
  configFile: string,
  change: (record: HostRecord) => void,
  /** lock: false when the caller's own lock already keeps every other writer out (one target's run holds its lock) */
  o: { dir?: string; lockDir?: string; lock?: boolean } = {},
): Promise<void> {
  const dir = o.dir ?? HOST_RECORD_DIR;
  const file = hostRecordFile(configFile, dir);
  const lock = o.lock === false ? undefined : await lockRecord(runner, file, o.lockDir);
  try {
    const problem = hostRecordProblem(configFile, dir);
    if (problem !== undefined) throw unreadableRecord(file, problem);
    const record = readHostRecord(configFile, dir);
    pausePoint('host-record');
    change(record);
    writeHostRecord(runner, record, dir);
  } finally {
    await lock?.release();
  }
}

/** The refusal of a record file that is not one, with the fix. */
export function unreadableRecord(file: string, problem: string): UserError {
  return new UserError(
    `the host's record ${file} is left as it is: ${problem}`,
    `look at it, then move it aside (mv ${file} ${file}.bad): the next run starts a new record (the disks' pins are taken from the attached disks again)`,
  );
}

/** The record's lock: another run holds it for a moment only, so this one waits for it. */
async function lockRecord(runner: Runner, file: string, lockDir: string | undefined): Promise<Lock> {
  const deadline = Date.now() + RECORD_WAIT_MS;
  for (;;) {
    try {
      return await acquireLocks(
        runner,
        [{ what: `the host's record ${file}`, key: `host record ${file}` }],
        "writing the host's record",
        lockDir,
      );
    } catch (err) {
      if (!isVaultError(err) || err.exitCode !== ExitCode.locked || Date.now() > deadline) throw err;
    }
    await sleep(20);
  }
}

/**
 * The per-disk part as later code expects it: an entry, a time or a pin of another
 * shape (the file edited by hand, or torn) is left out, as if never recorded. A
 * record written before there were several disks has none: its one disk, `[target]`
 * (named "backup"), holds each source's last snapshot, seen when the record says.
 */
function targetsOf(r: HostRecord): Pick<HostRecord, 'targets'> {
  if (r.targets === undefined) {
    if (typeof r.targetSeen !== 'string') return {};
    const pins = Object.entries(r.sources).flatMap(([name, s]) =>
      typeof s?.snapshot === 'string' ? [[name, { snapshot: s.snapshot }] as const] : [],
    );
    return { targets: { [FIRST_TARGET]: { seen: r.targetSeen, pins: Object.fromEntries(pins) } } };
  }
  const targets: Record<string, TargetRecord> = {};
  if (isObject(r.targets))
    for (const [name, t] of Object.entries(r.targets)) {
      if (!isObject(t)) continue;
      const pins: Record<string, PinRecord> = {};
      if (isObject(t.pins))
        for (const [source, p] of Object.entries(t.pins))
          if (isObject(p) && typeof p.snapshot === 'string')
            pins[source] =
              typeof p.uuid === 'string' ? { snapshot: p.snapshot, uuid: p.uuid } : { snapshot: p.snapshot };
      targets[name] = {
        ...(isTime(t.seen) ? { seen: t.seen } : {}),
        ...(isTime(t.lastBackup) ? { lastBackup: t.lastBackup } : {}),
        pins,
      };
    }
  return { targets };
}

/** The name of `[target]`, the one disk of a config before there were several (config/defaults.ts). */
const FIRST_TARGET = 'backup';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/** Replaces the record whole (write, fsync, rename): a crash leaves the old one or the new one. */
export function writeHostRecord(runner: Runner, record: HostRecord, dir = HOST_RECORD_DIR): void {
  runner.change({
    op: 'write',
    path: hostRecordFile(record.config, dir),
    text: `${JSON.stringify(record, null, 2)}\n`,
    durable: true,
    folder: 0o700,
    about: "the host's record",
  });
}
