import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, isVaultError } from '../../core/errors.js';
import { DEFAULT_TARGET_RULES, planRetention, type RetentionRules } from '../../core/retention.js';
import { btrfs } from '../../btrfs/commands.js';
import { acquireLocks } from '../../system/lock.js';
import type { Runner } from '../../system/runner.js';
import { readReceived } from './received-record.js';
import { backupsIn, checkServeParent, folderNames, LATEST } from './serve-root.js';
import { folderLockKey } from './serve-receive.js';

// `btrfs-vault prune --serve-root DIR` on the backup server: retention of every host's
// folders, run by the server (a client cannot delete). The rules are the backup disk's
// defaults (Time Machine's: the last day hourly, a month daily, half a year weekly, then
// monthly), counted by the server's clock: when serve took each backup, from its record,
// so names a client chose (2099, or a day it wants forgotten) decide nothing. Only what
// serve recorded receiving is ever deleted, never `latest`'s target or the newest.

export interface ServedPruneFolder {
  host: string;
  folder: string;
  kept: { name: string; reasons: string[] }[];
  deleted: string[];
  /** not pruned this time, and why (a receive held the folder) */
  skipped?: string;
}

export async function runServePrune(
  runner: Runner,
  serveRoot: string,
  rules: RetentionRules = DEFAULT_TARGET_RULES,
  now = new Date(),
): Promise<ServedPruneFolder[]> {
  checkServeParent(serveRoot);
  const out: ServedPruneFolder[] = [];
  for (const host of folderNames(serveRoot)) {
    const root = join(serveRoot, host);
    for (const folder of folderNames(root)) {
      const dir = join(root, folder);
      let lock;
      try {
        lock = await acquireLocks(
          runner,
          [{ what: `the serve folder ${dir}`, key: folderLockKey(root, folder) }],
          `btrfs-vault prune --serve-root ${serveRoot}`,
        );
      } catch (err) {
        // a receive into it right now: this folder waits for the next prune, the others do not
        if (!(isVaultError(err) && err.exitCode === ExitCode.locked)) throw err;
        out.push({ host, folder, kept: [], deleted: [], skipped: err.message });
        continue;
      }
      try {
        out.push({ host, folder, ...(await pruneFolder(runner, root, folder, rules, now)) });
      } finally {
        await lock.release();
      }
    }
  }
  return out;
}

async function pruneFolder(runner: Runner, root: string, folder: string, rules: RetentionRules, now: Date) {
  const dir = join(root, folder);
  const record = readReceived(root);
  const backups = await backupsIn(runner, dir);
  // serve's own: recorded as received into this folder under this name, same copy (UUIDs)
  const ours = backups.filter((b) => {
    const e = record.get(b.uuid);
    return e !== undefined && e.folder === folder && e.name === b.name && e.receivedUuid === b.receivedUuid;
  });
  let latest: string | undefined;
  try {
    latest = readlinkSync(join(dir, LATEST));
  } catch {
    latest = undefined;
  }
  // each backup under the name of the time serve took it, in the planner's form
  const stamp = new Map<string, string>();
  const used = new Set<string>();
  for (const b of ours) {
    const base = record.get(b.uuid)!.at.slice(0, 19).replace('T', '_').replaceAll(':', '-');
    let name = base;
    for (let i = 2; used.has(name); i++) name = `${base}_${i}`;
    used.add(name);
    stamp.set(name, b.name);
  }
  const pins = new Map<string, string[]>();
  const newest = backups.at(-1)?.name;
  for (const [s, name] of stamp) {
    const why = [...(name === latest ? ['latest'] : []), ...(name === newest ? ['newest'] : [])];
    if (why.length > 0) pins.set(s, why);
  }
  const decisions = planRetention({ names: [...stamp.keys()], rules, pins, byCreation: true, now });
  const deleted = decisions.filter((d) => !d.keep).map((d) => stamp.get(d.name)!);
  const kept = [
    ...decisions.filter((d) => d.keep).map((d) => ({ name: stamp.get(d.name)!, reasons: d.reasons })),
    ...backups
      .filter((b) => !ours.includes(b))
      .map((b) => ({ name: b.name, reasons: ['not recorded as received by serve'] })),
  ];
  if (deleted.length > 0) await runner.run(btrfs.deleteMany(deleted.map((n) => join(dir, n))));
  return { kept, deleted };
}

export function servePruneLines(folders: readonly ServedPruneFolder[]): string[] {
  return folders.flatMap((f) => [
    f.skipped
      ? `${f.host}/${f.folder}: skipped: ${f.skipped}`
      : `${f.host}/${f.folder}: ${f.deleted.length} deleted, ${f.kept.length} kept`,
    ...f.deleted.map((n) => `  deleted ${n}`),
  ]);
}
