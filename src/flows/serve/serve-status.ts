import { join } from 'node:path';
import type { Runner } from '../../system/runner.js';
import { readReceived } from './received-record.js';
import { backupsIn, checkServeParent, folderNames } from './serve-root.js';

// `btrfs-vault status --serve-root DIR` on the backup server: every host (a folder of the
// serve root, one per key) with its folders, newest backup and its age, by the server's
// clock (when serve put it in place, from its record): a host that went quiet cannot
// say so itself, so the server does.

export interface ServedFolderStatus {
  folder: string;
  backups: number;
  /** the newest complete backup (by creation) */
  newest: string | null;
  /** when serve put the newest in place (ISO 8601), null when it has no record of it */
  receivedAt: string | null;
  ageSeconds: number | null;
}

export interface ServedHostStatus {
  host: string;
  folders: ServedFolderStatus[];
  /** the newest backup of any folder: when the host was last heard from */
  lastBackupAt: string | null;
  ageSeconds: number | null;
  stale: boolean;
}

export interface ServeStatus {
  serveRoot: string;
  maxAgeSeconds: number;
  hosts: ServedHostStatus[];
  warnings: string[];
  ok: boolean;
}

export async function collectServeStatus(
  runner: Runner,
  serveRoot: string,
  maxAgeSeconds: number,
  now = new Date(),
): Promise<ServeStatus> {
  checkServeParent(serveRoot);
  const hosts: ServedHostStatus[] = [];
  const warnings: string[] = [];
  for (const host of folderNames(serveRoot)) {
    const root = join(serveRoot, host);
    const record = readReceived(root);
    const folders: ServedFolderStatus[] = [];
    for (const folder of folderNames(root)) {
      const backups = await backupsIn(runner, join(root, folder));
      const newest = backups.at(-1);
      const at = newest ? (record.get(newest.uuid)?.at ?? null) : null;
      folders.push({
        folder,
        backups: backups.length,
        newest: newest?.name ?? null,
        receivedAt: at,
        ageSeconds: ageOf(at, now),
      });
    }
    const lastBackupAt = folders
      .map((f) => f.receivedAt)
      .reduce<string | null>((a, b) => (b && (!a || b > a) ? b : a), null);
    const ageSeconds = ageOf(lastBackupAt, now);
    // a time ahead of the clock (the clock was set back since): it says nothing of this host being alive
    const future = lastBackupAt !== null && Date.parse(lastBackupAt) - now.getTime() > FUTURE_SLACK_MS;
    const stale = ageSeconds === null || ageSeconds > maxAgeSeconds || future;
    if (ageSeconds === null) warnings.push(`host ${host}: no backup received yet`);
    else if (future)
      warnings.push(
        `host ${host}: its last backup is recorded at ${lastBackupAt}, in the future by this server's clock (was the clock set back?); when it last backed up is not known`,
      );
    else if (stale)
      warnings.push(`host ${host}: last backup ${formatAge(ageSeconds)} ago (max_age ${formatAge(maxAgeSeconds)})`);
    hosts.push({ host, folders, lastBackupAt, ageSeconds, stale });
  }
  return { serveRoot, maxAgeSeconds, hosts, warnings, ok: warnings.length === 0 };
}

export function serveStatusLines(s: ServeStatus): string[] {
  const lines = [`serve root ${s.serveRoot}: ${s.hosts.length} host${s.hosts.length === 1 ? '' : 's'}`];
  for (const h of s.hosts) {
    lines.push(
      `  ${h.host}: last backup ${h.ageSeconds === null ? 'never' : `${formatAge(h.ageSeconds)} ago`}${h.stale ? '  (stale)' : ''}`,
    );
    for (const f of h.folders)
      lines.push(
        `    ${f.folder}: ${f.backups} backup${f.backups === 1 ? '' : 's'}, newest ${f.newest ?? '-'}${f.ageSeconds === null ? '' : ` (${formatAge(f.ageSeconds)} ago)`}`,
      );
  }
  for (const w of s.warnings) lines.push(`warning: ${w}`);
  return lines;
}

/** a clock that was a few minutes fast is not yet a warning */
const FUTURE_SLACK_MS = 10 * 60_000;

function ageOf(at: string | null, now: Date): number | null {
  if (at === null) return null;
  const t = Date.parse(at);
  return Number.isNaN(t) ? null : Math.max(0, Math.round((now.getTime() - t) / 1000));
}

function formatAge(seconds: number): string {
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86_400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}
