import { existsSync } from 'node:fs';
import { loadConfig } from '../../config/load.js';
import type { VaultConfig } from '../../config/config.js';
import { targetsOf } from '../../config/target-view.js';
import type { Runner } from '../../system/runner.js';
import { serverBox } from '../../ui/server-box.js';
import { checkTargetInput, DEFAULT_SERVE_ROOT, targetAdd, type TargetAddReport } from '../remote/target-add.js';

// setup's backup server: the answers to "Also send backups to a server over SSH?", then
// exactly what `target add` does (key, host key confirmed and pinned, the table), and
// the box saying what to do on the server.

export interface ServerAnswer {
  /** the table's name; default offsite (offsite-2, … when taken) */
  name?: string;
  ssh: string;
  port?: number;
  serveRoot?: string;
  /** the host key's fingerprint, read on the server: confirms without asking */
  fingerprint?: string;
}

export const DEFAULT_SERVER_NAME = 'offsite';

/** What setup reports of the server (--json): target add's report and the serve root. */
export type SetupServerReport = TargetAddReport & { serveRoot: string };

/** The checks that need no server: made before setup touches a disk. */
export function checkServerAnswer(a: ServerAnswer): void {
  checkTargetInput({ name: a.name ?? DEFAULT_SERVER_NAME, ssh: a.ssh, port: a.port, serveRoot: serveRootOf(a) });
}

export async function addServer(o: {
  runner: Runner;
  configFile: string;
  host: string;
  answer: ServerAnswer;
  confirmHostKey?: (fingerprint: string, where: string) => Promise<boolean>;
  print: (text: string) => void;
}): Promise<SetupServerReport> {
  // the config as setup left it (a dry-run's disk setup wrote none: the table is then shown alone)
  const config = existsSync(o.configFile) ? await loadConfig(o.configFile, { noTargetYet: true }) : undefined;
  const serveRoot = serveRootOf(o.answer);
  const report = await targetAdd({
    runner: o.runner,
    configFile: o.configFile,
    ...(config ? { config } : {}),
    host: o.host,
    name: o.answer.name ?? freeName(config),
    ssh: o.answer.ssh,
    ...(o.answer.port !== undefined ? { port: o.answer.port } : {}),
    ...(o.answer.fingerprint !== undefined ? { fingerprint: o.answer.fingerprint } : {}),
    serveRoot,
    ...(o.confirmHostKey ? { confirmHostKey: o.confirmHostKey } : {}),
    log: (line) => o.print(`${line}\n`),
  });
  o.print(serverBox({ ...report, serveRoot, host: config?.host ?? o.host }));
  return { ...report, serveRoot };
}

function serveRootOf(a: ServerAnswer): string {
  return a.serveRoot ?? DEFAULT_SERVE_ROOT;
}

/** offsite, else offsite-2, …: a name no disk or server of the config has. */
function freeName(config: VaultConfig | undefined): string {
  const taken = new Set([
    ...(config ? targetsOf(config).map((t) => t.name) : []),
    ...(config?.remotes ?? []).map((r) => r.name),
  ]);
  if (!taken.has(DEFAULT_SERVER_NAME)) return DEFAULT_SERVER_NAME;
  for (let i = 2; ; i++) if (!taken.has(`${DEFAULT_SERVER_NAME}-${i}`)) return `${DEFAULT_SERVER_NAME}-${i}`;
}
