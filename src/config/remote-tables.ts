import { isAbsolute, resolve } from 'node:path';
import type { RemoteTargetConfig } from './config.js';
import { ROTATION_DEFAULTS } from './defaults.js';
import { problem, show } from './problems.js';
import type { RawConfig } from './schema.js';
import { targetNameProblem } from './target-tables.js';

// The backup servers of a config: `[targets.<name>]` tables with `ssh = "user@host"`.
// A server's table holds no disk key: a mountpoint or layers there would be a disk's,
// and guessing which was meant could send the backups somewhere else.

const DOCS = 'docs/GUIDE.md, "A backup server for many hosts"';
export const REMOTE_DEFAULTS = { port: 22, identity: 'ssh/id_ed25519', known_hosts: 'ssh/known_hosts' } as const;
const REMOTE_KEYS = new Set(['ssh', 'port', 'identity', 'known_hosts', 'keep_for_absent', 'max_age']);

/** Each `[targets.<name>]` with `ssh`, resolved; every problem into `problems`. */
export function remoteTargets(file: string, raw: RawConfig, problems: string[]): RemoteTargetConfig[] {
  const dir = resolve(file, '..');
  const at = (p: string) => (isAbsolute(p) ? resolve(p) : resolve(dir, p));
  const remotes: RemoteTargetConfig[] = [];
  for (const [name, t] of Object.entries(raw.targets ?? {})) {
    if (t.ssh === undefined) continue;
    const bad = targetNameProblem(name);
    if (bad) {
      problems.push(problem(`${file}: targets`, `the target name ${show(name)} ${bad}`, `rename the table (${DOCS})`));
      continue;
    }
    const diskKeys = Object.entries(t)
      .filter(([k, v]) => v !== undefined && !REMOTE_KEYS.has(k))
      .map(([k]) => k);
    if (diskKeys.length > 0) {
      problems.push(
        problem(
          `${file}: targets.${name}`,
          `[targets.${name}] is a backup server (ssh = ${show(t.ssh)}), but has a backup disk's key(s): ${diskKeys.join(', ')}`,
          `remove ${diskKeys.join(', ')} from [targets.${name}] (a server keeps its own retention), or put the disk in a [targets.<name>] table of its own (${DOCS})`,
        ),
      );
      continue;
    }
    const at_ = t.ssh.lastIndexOf('@');
    const host = t.ssh.slice(at_ + 1);
    remotes.push({
      name,
      user: t.ssh.slice(0, at_),
      // ssh takes an IPv6 address without its brackets
      host: host.startsWith('[') ? host.slice(1, -1) : host,
      port: t.port ?? REMOTE_DEFAULTS.port,
      identity: at(t.identity ?? REMOTE_DEFAULTS.identity),
      knownHosts: at(t.known_hosts ?? REMOTE_DEFAULTS.known_hosts),
      keepForAbsentSeconds: parseAge(t.keep_for_absent ?? ROTATION_DEFAULTS.keep_for_absent),
      maxAgeSeconds: parseAge(t.max_age ?? ROTATION_DEFAULTS.max_age),
    });
  }
  return remotes;
}

function parseAge(text: string): number {
  const m = /^(\d+)([hdw])$/.exec(text)!;
  return Number(m[1]) * { h: 3600, d: 86_400, w: 604_800 }[m[2] as 'h' | 'd' | 'w'];
}
