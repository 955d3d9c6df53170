import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readFileNoFollow } from './no-follow.js';
import type { Runner } from './runner.js';

// What the host remembers of its backups, so `status` can answer with the backup disk
// closed or away: per source the last successful backup, and when the disk was last
// seen. One small JSON file per config, replaced whole at the end of each run.

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

export function readHostRecord(configFile: string, dir = HOST_RECORD_DIR): HostRecord {
  const text = readFileNoFollow(hostRecordFile(configFile, dir));
  try {
    const r = text === undefined ? undefined : (JSON.parse(text) as HostRecord);
    if (r && typeof r === 'object' && r.sources && typeof r.sources === 'object') return { ...r, ...targetsOf(r) };
  } catch {
    /* a torn or foreign file: start again */
  }
  return { config: configFile, sources: {} };
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
