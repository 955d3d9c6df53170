import type { RemoteTargetConfig, VaultConfig } from '../../config/config.js';
import { errorMessage, ExitCode, VaultError } from '../../core/errors.js';
import type { Runner } from '../../system/runner.js';
import { namedSources } from '../session/source-pick.js';
import { ServeClient, type RemoteFolders } from './serve-client.js';
import { destination } from './ssh.js';

// list --target SERVER: what the server holds of this host, from its own answer (its
// complete backups only), each folder's latest; no source given: every folder there.

export interface RemoteListing {
  ok: boolean;
  target: string;
  folders: RemoteFolders;
  error?: string;
  fix?: string;
  exitCode: number;
}

export async function listRemote(
  runner: Runner,
  config: VaultConfig,
  remote: RemoteTargetConfig,
  args: readonly string[],
  controlDir?: string,
): Promise<RemoteListing> {
  const client = new ServeClient(runner, remote, controlDir);
  const target = `ssh://${destination(remote)}:${remote.port}`;
  const names = args.length === 0 ? [undefined] : namedSources(config, args).map((s) => s.name);
  let reached = false;
  try {
    let { folders } = await client.open(names[0]);
    reached = true;
    for (const name of names.slice(1)) folders = { ...folders, ...(await client.list(name)) };
    return { ok: true, target, folders, exitCode: ExitCode.ok };
  } catch (err) {
    return {
      ok: false,
      target,
      folders: {},
      error: errorMessage(err),
      fix: err instanceof VaultError ? err.fix : undefined,
      exitCode: err instanceof VaultError ? err.exitCode : ExitCode.failed,
    };
  } finally {
    if (reached) await client.close();
  }
}

export function remoteListingLines(name: string, l: RemoteListing): string[] {
  if (!l.ok) return [`✖ ${name} (${l.target}): ${l.error}${l.fix ? `\n  fix: ${l.fix}` : ''}`];
  const folders = Object.entries(l.folders);
  if (folders.length === 0) return [`${name} (${l.target}): no backups of this host`];
  return folders.flatMap(([folder, f]) => [
    `${folder} on ${name} (${l.target}):`,
    ...f.backups.map((b) => `  ${b.name}${b.name === f.latest ? '  (latest)' : ''}`),
    ...(f.backups.length === 0 ? ['  no complete backup'] : []),
  ]);
}
