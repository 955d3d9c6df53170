import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseKeyLine } from '../../core/authorized-keys.js';
import { errorMessage } from '../../core/errors.js';
import type { HealthCheck } from '../../stack/layer.js';
import { mountWarning } from './mount-options.js';
import { checkServeRoot } from './serve-root.js';
import { testAuthorizedKeys, testLogSocket } from './serve-test-hooks.js';

// doctor on a backup server ([serve] root): the serve root as serve needs it, the mount
// that holds it, the key lines that run serve, and the log serve's refusals go to.

export function serveChecks(serveRoot: string): HealthCheck[] {
  const checks: HealthCheck[] = [];
  const check = (name: string, level: HealthCheck['level'], detail: string, fix?: string) =>
    checks.push({ area: 'server', name, level, detail, ...(fix ? { fix } : {}) });
  try {
    checkServeRoot(serveRoot);
    check('serve root', 'ok', `${serveRoot}: a folder on btrfs, root's alone (0700)`);
  } catch (err) {
    check('serve root', 'error', errorMessage(err), (err as { fix?: string }).fix);
    return checks;
  }
  const mount = mountWarning(serveRoot);
  if (mount) check('mount', 'error', mount[0]!.replace(/^warning: /, ''), mount[1]!.replace(/^\s*fix: /, ''));
  else check('mount', 'ok', `the filesystem holding ${serveRoot} is mounted nosuid,nodev`);
  checks.push(...keyChecks(serveRoot));
  const socket = testLogSocket() ?? '/dev/log';
  let socketOk = false;
  try {
    socketOk = lstatSync(socket).isSocket();
  } catch {
    socketOk = false;
  }
  if (socketOk) check('log', 'ok', `serve's refusals reach the system log (${socket}, tag btrfs-vault-serve)`);
  else
    check(
      'log',
      'warn',
      `${socket} is no socket: serve's refusals and failures (logger, tag btrfs-vault-serve) would be lost`,
      'run a system log (systemd-journald or rsyslog)',
    );
  return checks;
}

/** Each authorized_keys line that runs serve: restricted, its root a host's folder of this serve root, one key per root. */
function keyChecks(serveRoot: string): HealthCheck[] {
  const file = testAuthorizedKeys() ?? join(homedir(), '.ssh', 'authorized_keys');
  const out: HealthCheck[] = [];
  const check = (level: HealthCheck['level'], detail: string, fix?: string) =>
    out.push({ area: 'server', name: 'authorized_keys', level, detail, ...(fix ? { fix } : {}) });
  if (!existsSync(file)) {
    check(
      'warn',
      `${file} does not exist: no host can reach serve yet`,
      'add a host: btrfs-vault target add on it prints the line',
    );
    return out;
  }
  const byRoot = new Map<string, number[]>();
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((text, i) => {
    const key = parseKeyLine(text);
    // sshd reads option names in any case
    const named = (name: string) => key?.options.filter((o) => o.name.toLowerCase() === name) ?? [];
    const command = named('command')[0]?.value;
    if (!key || command === undefined || !/(^|\/)btrfs-vault\s+serve(\s|$)/.test(command)) return;
    const at = `${file}:${i + 1}`;
    const root = serveRootOf(command);
    if (named('command').length > 1)
      check(
        'error',
        `${at}: the key that runs serve has command= twice: sshd refuses the whole line, so this key cannot reach serve`,
        'keep one command="btrfs-vault serve --root …" on the line',
      );
    if (named('restrict').length === 0)
      check(
        'error',
        `${at}: the key that runs serve has no restrict: it may forward ports, open a terminal and more`,
        'begin the line with restrict, (restrict,command="btrfs-vault serve --root …")',
      );
    // after restrict, these give back what it took away
    const regained = key.options.filter((o) => REGAINED.has(o.name.toLowerCase())).map((o) => o.name);
    if (regained.length > 0)
      check(
        'error',
        `${at}: the key that runs serve gives back what restrict takes away (${regained.join(', ')}): a terminal, forwarding or ~/.ssh/rc for a client's key`,
        `remove ${regained.join(', ')} from the line: restrict,command="btrfs-vault serve --root …" is all a host needs`,
      );
    // with PermitUserEnvironment, sshd sets these for serve (NODE_OPTIONS: code of the client's choosing, as root)
    if (named('environment').length > 0)
      check(
        'error',
        `${at}: the key that runs serve sets environment= for it: with sshd's PermitUserEnvironment, NODE_OPTIONS or PATH there runs what the line says as root`,
        'remove environment=… from the line; serve needs none',
      );
    if (root === undefined || dirname(root.replace(/\/+$/, '')) !== serveRoot)
      check(
        'warn',
        `${at}: serve's --root ${root ?? '(none)'} is not a host's folder of the serve root ${serveRoot}: status and prune on this server do not see it`,
        `command="btrfs-vault serve --root ${serveRoot}/HOST"`,
      );
    if (root !== undefined) byRoot.set(root, [...(byRoot.get(root) ?? []), i + 1]);
  });
  for (const [root, at] of byRoot)
    if (at.length > 1)
      check(
        'warn',
        `${file}: lines ${at.join(', ')} are keys of one root ${root}: two hosts' backups in one folder mix their chains, and a lost host's key stays valid`,
        'give each host a folder of its own (mkdir -m 700 -- SERVE_ROOT/HOST) and its key that --root',
      );
  if (byRoot.size === 0)
    check('warn', `${file} has no key line that runs btrfs-vault serve: no host can reach serve yet`);
  else if (!out.some((c) => c.level !== 'ok'))
    check('ok', `${byRoot.size} host key(s) run serve, each restricted to a folder of its own under ${serveRoot}`);
  return out;
}

/** options that give back, after restrict, what it takes (sshd(8), AUTHORIZED_KEYS FILE FORMAT) */
const REGAINED = new Set(['agent-forwarding', 'port-forwarding', 'pty', 'user-rc', 'x11-forwarding']);

/** the root serve takes from the command: the last --root DIR or --root=DIR, as its option parser does */
function serveRootOf(command: string): string | undefined {
  const words = command.trim().split(/\s+/);
  let root: string | undefined;
  words.forEach((w, i) => {
    if (w === '--root') root = words[i + 1];
    else if (w.startsWith('--root=')) root = w.slice('--root='.length);
  });
  return root;
}
