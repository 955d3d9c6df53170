import type { VaultConfig } from '../../config/config.js';
import { errorMessage } from '../../core/errors.js';
import { readHostRecord, updateHostRecord } from '../../system/host-record.js';
import type { Runner } from '../../system/runner.js';
import { collectStatus } from '../inspect/status.js';
import { notify } from './notify.js';

const DAY_MS = 86_400_000;

/** Stale backups (or a disk not seen for long) are told at most once a day. */
export async function staleNotice(runner: Runner, config: VaultConfig): Promise<string[]> {
  // a dry-run sends nothing (notify), so it has nothing to remember
  if (!config.notify?.on.includes('stale') || !runner.changesTakeEffect) return [];
  const status = await collectStatus(runner, config);
  const stale = status.warnings.filter((w) =>
    ['stale-backup', 'no-backup', 'target-not-seen', 'target-away'].includes(w.code),
  );
  if (stale.length === 0) return [];
  const record = readHostRecord(config.file);
  if (record.lastStaleNotice && Date.now() - Date.parse(record.lastStaleNotice) < DAY_MS) return [];
  const problems = await notify(runner, config, 'stale', { exitCode: 0, warnings: stale });
  const at = new Date().toISOString();
  try {
    await updateHostRecord(runner, config.file, (r) => void (r.lastStaleNotice = at));
  } catch (err) {
    problems.push(`the time of this notice could not be kept in the host's record: ${errorMessage(err)}`);
  }
  return problems;
}
