import { createHash } from 'node:crypto';
import type { RemoteTargetConfig } from '../../config/config.js';
import { UserError } from '../../core/errors.js';
import { verbLine, type ServeVerb } from '../../core/serve-verbs.js';
import type { Argv } from '../../system/runner.js';
import { connectTimeoutS } from '../../system/wait-test-hooks.js';

// The one place that knows how we call OpenSSH. Every option is ours: no ssh_config of
// the user's (-F /dev/null), no agent or other key (IdentitiesOnly), no host key but the
// one `target add` pinned (our known_hosts alone, strict), never a question (BatchMode).
// One master connection per run (ControlMaster), closed at the end with `-O exit`; a
// run's own: two runs of one config at once never share it (the first to end would
// close it under the other).

/** where the master connection's socket lives (root's, 0700): /run is gone at reboot */
export const SSH_CONTROL_DIR = '/run/btrfs-vault';

/** how long to wait for the server's answer to a connection, and for a dead link mid-stream */
const CONNECT_TIMEOUT_S = 15;
const ALIVE_INTERVAL_S = 15;
const ALIVE_COUNT = 4;

/** The options every ssh of a remote target gets, before `--`. */
export function sshOptions(remote: RemoteTargetConfig, controlDir = SSH_CONTROL_DIR): string[] {
  const o = (kv: string) => ['-o', kv];
  return [
    '-F',
    '/dev/null',
    ...o('BatchMode=yes'),
    ...o('StrictHostKeyChecking=yes'),
    ...o(`UserKnownHostsFile=${sshPath(remote.knownHosts, 'known_hosts', remote.name)}`),
    ...o('GlobalKnownHostsFile=/dev/null'),
    ...o('UpdateHostKeys=no'),
    ...o('IdentitiesOnly=yes'),
    ...o(`IdentityFile=${sshPath(remote.identity, 'identity', remote.name)}`),
    ...o('ControlMaster=auto'),
    ...o(`ControlPath=${controlDir}/ssh-${connectionKey(remote)}-${process.pid}`),
    ...o('ControlPersist=60'),
    ...o(`ConnectTimeout=${connectTimeoutS(CONNECT_TIMEOUT_S)}`),
    ...o(`ServerAliveInterval=${ALIVE_INTERVAL_S}`),
    ...o(`ServerAliveCountMax=${ALIVE_COUNT}`),
    '-p',
    String(remote.port),
  ];
}

/** `ssh … -- user@host <verb line>`: the server's forced command reads the line, never a shell. */
export function sshVerb(remote: RemoteTargetConfig, verb: ServeVerb, controlDir = SSH_CONTROL_DIR): Argv {
  return ['ssh', [...sshOptions(remote, controlDir), '--', destination(remote), verbLine(verb)]];
}

/**
 * One verb on a connection of its own that gives up soon (doctor): no master connection
 * is used or left behind, so what it finds is the server's answer now.
 */
export function sshProbe(remote: RemoteTargetConfig, verb: ServeVerb, connectTimeoutS: number): Argv {
  const options = sshOptions(remote).flatMap((o, i, all) =>
    o.startsWith('ControlPersist=') || (o === '-o' && all[i + 1]?.startsWith('ControlPersist='))
      ? []
      : o.startsWith('ControlMaster=')
        ? ['ControlMaster=no']
        : o.startsWith('ControlPath=')
          ? ['ControlPath=none']
          : o.startsWith('ConnectTimeout=')
            ? [`ConnectTimeout=${connectTimeoutS}`]
            : [o],
  );
  return ['ssh', [...options, '--', destination(remote), verbLine(verb)]];
}

/** Ends the run's master connection (nothing to end is no failure: the caller allows it). */
export function sshExit(remote: RemoteTargetConfig, controlDir = SSH_CONTROL_DIR): Argv {
  return ['ssh', [...sshOptions(remote, controlDir), '-O', 'exit', '--', destination(remote)]];
}

/**
 * The master connection's name: ssh's own %C hashes host, port and user, not the key, so
 * two configs with their own keys for one server would share a connection, the second
 * run riding on the first's key (and its forced command's root). Ours hashes all of it.
 */
function connectionKey(r: RemoteTargetConfig): string {
  return createHash('sha256')
    .update(JSON.stringify([r.user, r.host, r.port, r.identity, r.knownHosts]))
    .digest('hex')
    .slice(0, 24);
}

export function destination(remote: Pick<RemoteTargetConfig, 'user' | 'host'>): string {
  return `${remote.user}@${remote.host}`;
}

/**
 * A path as an ssh option's value: ssh splits a value at blanks unless it is in double
 * quotes, and expands `%` tokens in these options; so it is quoted, `%` doubled, and a
 * path ssh could not take as one word (a `"`, a control character) is refused.
 */
export function sshPath(path: string, key: string, target: string): string {
  // eslint-disable-next-line no-control-regex
  if (/["\\\x00-\x1f\x7f]/.test(path) || !path.startsWith('/'))
    throw new UserError(
      `the ${key} path of [targets.${target}] (${JSON.stringify(path)}) cannot be handed to ssh (it holds a quote, a backslash or a control character)`,
      `move the file to a plain path and set ${key} = "..." in [targets.${target}]`,
    );
  return `"${path.replaceAll('%', '%%')}"`;
}
