import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../core/errors.js';
import { DEFAULT_SERVE_ROOT, targetAdd } from '../flows/remote/target-add.js';
import { jsonText } from '../ui/json-output.js';
import { loadConfig } from '../config/load.js';
import { makeRunner } from './context.js';

export interface TargetAddOptions {
  config: string;
  ssh?: string;
  port?: string;
  fingerprint?: string;
  serveRoot?: string;
  dryRun?: boolean;
  json?: boolean;
}

/** target add NAME --ssh user@host: a backup server for this host (the key, the pinned host key, the table). */
export async function targetAddCommand(name: string, opts: TargetAddOptions): Promise<number> {
  if (opts.ssh === undefined)
    throw new UserError(
      'target add needs the server: --ssh user@host',
      `btrfs-vault target add ${name} --ssh backup@vault.example.org`,
    );
  if (opts.port !== undefined && !/^\d{1,5}$/.test(opts.port))
    throw new UserError(`--port ${JSON.stringify(opts.port)} is not a port`, 'give a port from 1 to 65535');
  // a config with sources and no target yet is fine: this gives it one
  const config = existsSync(resolve(opts.config)) ? await loadConfig(opts.config, { noTargetYet: true }) : undefined;
  const ask =
    process.stdin.isTTY && !opts.json
      ? async (fingerprint: string, where: string) =>
          (await import('../ui/host-key-prompt.js')).askHostKey(fingerprint, where)
      : undefined;
  const report = await targetAdd({
    runner: makeRunner(opts),
    configFile: opts.config,
    config,
    name,
    ssh: opts.ssh,
    port: opts.port === undefined ? undefined : Number(opts.port),
    fingerprint: opts.fingerprint,
    serveRoot: opts.serveRoot ?? DEFAULT_SERVE_ROOT,
    confirmHostKey: ask,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  if (opts.json) process.stdout.write(jsonText(report));
  else
    process.stdout.write(
      [
        `✔ [targets.${report.name}] ${report.config === 'added' ? 'added to' : 'is in'} ${resolve(opts.config)}; the host key ${report.fingerprint} is pinned in ${report.knownHosts}; this host's key ${report.key === 'made' ? 'made' : 'kept'}: ${report.identity}`,
        "Add this line to the server's authorized_keys (of the user you gave):",
        report.authorizedKeysLine,
        '',
      ].join('\n'),
    );
  return 0;
}
