import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { VaultConfig } from '../../config/config.js';
import type { HostRecord } from '../../system/host-record.js';
import { formatDuration } from '../../ui/format.js';

// status, per backup server: its last backup, when it was last reached, and per source
// its pin. From the host's record alone: status asks no server (no network, no key).

export interface RemoteStatus {
  name: string;
  /** user@host */
  ssh: string;
  port: number;
  /** ISO time of its last backup that sent something; null: none yet */
  lastBackup: string | null;
  ageSeconds: number | null;
  /** ISO time a run last reached it; null: never */
  lastReached: string | null;
  maxAgeSeconds: number;
  pins: { source: string; snapshot: string; onSource: boolean }[];
}

export function remotesStatus(config: VaultConfig, record: HostRecord, now: Date, only?: string): RemoteStatus[] {
  const since = (iso: string | undefined) =>
    iso === undefined ? null : Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  return (config.remotes ?? [])
    .filter((r) => only === undefined || r.name === only)
    .map((r) => {
      const rec = record.targets?.[r.name];
      return {
        name: r.name,
        ssh: `${r.user}@${r.host}`,
        port: r.port,
        lastBackup: rec?.lastBackup ?? null,
        ageSeconds: since(rec?.lastBackup),
        lastReached: rec?.seen ?? null,
        maxAgeSeconds: r.maxAgeSeconds,
        pins: config.sources.flatMap((s) => {
          const pin = rec?.pins?.[s.name];
          return pin
            ? [{ source: s.path, snapshot: pin.snapshot, onSource: existsSync(join(s.snapshotDir, pin.snapshot)) }]
            : [];
        }),
      };
    });
}

/** A server not reached for longer than its max_age (or never backed up to), and a pin gone. */
export function remoteWarnings(
  remotes: readonly RemoteStatus[],
  now: Date,
): { code: 'target-away' | 'pin-let-go'; message: string; target: string; source?: string; fix?: string }[] {
  return remotes.flatMap((r) => {
    const reached = r.lastReached === null ? undefined : Date.parse(r.lastReached);
    const fix = `check that the server is reachable, then run: btrfs-vault backup --target ${r.name}`;
    const away =
      reached === undefined
        ? [
            {
              code: 'target-away' as const,
              target: r.name,
              message: `the backup server ${r.name} (${r.ssh}) has never had a backup`,
              fix,
            },
          ]
        : now.getTime() - reached > r.maxAgeSeconds * 1000
          ? [
              {
                code: 'target-away' as const,
                target: r.name,
                message: `the backup server ${r.name} (${r.ssh}) has not been reached for ${formatDuration(now.getTime() - reached)} (max_age: ${formatDuration(r.maxAgeSeconds * 1000)})`,
                fix,
              },
            ]
          : [];
    const gone = r.pins
      .filter((p) => !p.onSource)
      .map((p) => ({
        code: 'pin-let-go' as const,
        target: r.name,
        source: p.source,
        message: `the backup server ${r.name}'s newest snapshot of ${p.source} (${p.snapshot}) is no longer on the source: its next backup of ${p.source} will be full`,
      }));
    return [...away, ...gone];
  });
}

export function remoteLines(remotes: readonly RemoteStatus[]): string[] {
  if (remotes.length === 0) return [];
  const ago = (sec: number | null) => (sec === null ? 'never' : `${formatDuration(sec * 1000)} ago`);
  return [
    'backup servers:',
    ...remotes.flatMap((r) => [
      `  ${r.name} (${r.ssh} port ${r.port}): last backup ${r.lastBackup ?? 'never'} (${ago(r.ageSeconds)}); last reached ${r.lastReached ?? 'never'}`,
      ...r.pins.map(
        (p) =>
          `    pin of ${p.source}: ${p.snapshot}${p.onSource ? '' : ' (gone from the source: the next backup is full)'}`,
      ),
    ]),
    '',
  ];
}
