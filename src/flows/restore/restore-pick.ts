import type { SourceConfig, VaultConfig } from '../../config/config.js';
import { snapshotTime } from '../../core/retention.js';

export interface Picked {
  source: SourceConfig;
  /** empty: the whole backup */
  path: string;
  to: string;
  /** asks for the backup once the disk is open, inside the restore's own session (its lock, its open record) */
  pickBackup: (names: string[]) => Promise<string>;
}

/**
 * restore without arguments on a terminal: source, the path and where it goes, asked
 * before the disk is opened; then the backup (newest first, with its age), asked by the
 * restore itself with the disk open and locked (`pickBackup`), so no other run (a
 * timer's backup, a close) can close the disk while a person chooses.
 */
export async function pickRestore(config: VaultConfig, to: string | undefined): Promise<Picked> {
  const prompts = await import('../../ui/restore-prompts.js');
  const source = await prompts.askSource(config.sources);
  const path = (await prompts.askPath()).trim();
  return {
    source,
    path,
    to: to ?? (await prompts.askDestination(path === '')),
    pickBackup: (names) => prompts.askBackup(names, snapshotTime),
  };
}
