import { lstatSync, readFileSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import type { RemoteTargetConfig, VaultConfig } from '../../config/config.js';
import { CommandFailedError, errorMessage } from '../../core/errors.js';
import { PROTOCOL } from '../../core/serve-verbs.js';
import { quote } from '../../core/shell-quote.js';
import type { HealthCheck } from '../../stack/layer.js';
import type { Runner } from '../../system/runner.js';
import { knownHostsName, trustsKeyFor } from '../remote/known-hosts.js';
import { helloReply, sshError, UNREACHABLE } from '../remote/serve-client.js';
import { destination, sshProbe } from '../remote/ssh.js';

// doctor's checks of each backup server (`[targets.NAME]` with ssh): the programs, this
// host's key and our known_hosts as ssh would use them, then the server itself: a hello
// on a connection of its own that gives up soon. Reads only; the private key is read by
// ssh-keygen alone and never shown.

/** how long doctor waits for a server to answer a connection */
const PROBE_TIMEOUT_S = 5;
/** and for the whole hello (a server that takes the connection and then says nothing) */
const PROBE_LIMIT_MS = 20_000;

export async function remoteChecks(runner: Runner, config: VaultConfig): Promise<HealthCheck[]> {
  const remotes = config.remotes ?? [];
  if (remotes.length === 0) return [];
  const checks: HealthCheck[] = [];
  const programs = await sshPrograms(runner);
  checks.push(...programs);
  const haveSsh = programs.every((c) => c.level === 'ok');
  for (const remote of remotes) {
    const own = [...(await identityChecks(runner, remote, haveSsh)), ...knownHostsChecks(remote)];
    checks.push(...own);
    // with a key or pin ssh refuses, the hello says only that; the finding above names the fix
    if (haveSsh && own.every((c) => c.level === 'ok')) checks.push(await helloCheck(runner, remote, config.host));
  }
  return checks;
}

async function sshPrograms(runner: Runner): Promise<HealthCheck[]> {
  const checks: HealthCheck[] = [];
  // ssh -V prints its version; ssh-keygen has no version option: asked to read nothing, it answers with its usage
  for (const [name, argv] of [
    ['ssh', ['ssh', ['-V']]],
    ['ssh-keygen', ['ssh-keygen', ['-l', '-f', '/dev/null']]],
  ] as const) {
    const r = await runner
      .query(argv, { allowFailure: true })
      .catch((err: unknown) => ({ exitCode: -1, stdout: '', stderr: errorMessage(err) }));
    checks.push(
      r.exitCode === -1 || r.exitCode === 127
        ? {
            area: 'server',
            name,
            level: 'error',
            detail: `${name} is not installed (the backup servers are reached with OpenSSH)`,
            fix: 'apt-get install openssh-client',
          }
        : { area: 'server', name, level: 'ok', detail: `${name} ${/OpenSSH_\S+/.exec(r.stderr)?.[0] ?? 'installed'}` },
    );
  }
  return checks;
}

const check = (remote: RemoteTargetConfig, what: string, level: HealthCheck['level'], detail: string, fix?: string) =>
  ({
    area: 'server',
    name: `${what} ${remote.name}`,
    level,
    detail: `${remote.name}: ${detail}`,
    ...(fix ? { fix } : {}),
  }) satisfies HealthCheck;

/** lstat, or undefined when nothing is there */
function lstatOf(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

const mode = (st: Stats) => (st.mode & 0o777).toString(8).padStart(4, '0');
const again = (r: RemoteTargetConfig) =>
  `btrfs-vault target add ${r.name} --ssh ${destination(r)}${r.port === 22 ? '' : ` --port ${r.port}`}`;

/**
 * This host's key: a regular file (a link could be swapped for another file), root's,
 * 0600, in a 0700 folder of root's, and its .pub the public half of it (the line the
 * server was given is made from the .pub).
 */
async function identityChecks(runner: Runner, r: RemoteTargetConfig, haveSsh: boolean): Promise<HealthCheck[]> {
  const key = r.identity;
  const what = 'ssh key';
  const st = lstatOf(key);
  if (!st)
    return [
      check(r, what, 'error', `this host's key ${key} does not exist`, `make it and pin the server again: ${again(r)}`),
    ];
  if (st.isSymbolicLink() || !st.isFile())
    return [
      check(
        r,
        what,
        'error',
        `this host's key ${key} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}: whoever can change where it leads chooses the key root logs in with`,
        `put the key file itself there: cp --remove-destination -- "$(readlink -f -- ${quote(key)})" ${quote(key)}, then check it is this host's key`,
      ),
    ];
  const fixes: string[] = [];
  if (st.uid !== 0) fixes.push(`chown root:root -- ${quote(key)}`);
  if ((st.mode & 0o777) !== 0o600) fixes.push(`chmod 600 -- ${quote(key)}`);
  if (fixes.length > 0)
    return [
      check(
        r,
        what,
        'error',
        `this host's key ${key} must be root's alone, mode 0600 (it is uid ${st.uid}, mode ${mode(st)}): ${st.uid !== 0 ? 'that account can read it and reach the server as this host' : 'ssh refuses a key others may read'}`,
        `${fixes.join(' && ')}; if others could read it, make a new key: move it and its .pub away, then ${again(r)}`,
      ),
    ];
  const folder = dirname(key);
  const dir = lstatOf(folder);
  if (!dir || !dir.isDirectory() || dir.uid !== 0 || (dir.mode & 0o077) !== 0)
    return [
      check(
        r,
        what,
        'error',
        `the folder of this host's key, ${folder}, must be a folder of root's, mode 0700 (it is ${dir ? `uid ${dir.uid}, mode ${mode(dir)}${dir.isDirectory() ? '' : ', not a folder'}` : 'missing'}): whoever can write there can replace the key`,
        `chown root:root -- ${quote(folder)} && chmod 700 -- ${quote(folder)}`,
      ),
    ];
  const checks = [check(r, what, 'ok', `this host's key ${key}: root's, 0600, in a 0700 folder`)];
  if (!haveSsh) return checks;
  // the public half, as ssh-keygen derives it from the private key (no passphrase: none is ever set)
  const derived = await runner.query(['ssh-keygen', ['-y', '-P', '', '-f', key]], { allowFailure: true });
  const pubText = (() => {
    try {
      return readFileSync(`${key}.pub`, 'utf8');
    } catch {
      return undefined;
    }
  })();
  const words = (t: string) => t.trim().split(/\s+/).slice(0, 2).join(' ');
  if (derived.exitCode !== 0)
    checks.push(
      check(
        r,
        'ssh public key',
        'error',
        `ssh-keygen cannot read this host's key ${key}: ${derived.stderr.trim().split('\n').at(-1) ?? ''}`,
        `move ${key} and ${key}.pub away, then make a new key: ${again(r)}`,
      ),
    );
  else if (pubText === undefined || words(pubText) !== words(derived.stdout))
    checks.push(
      check(
        r,
        'ssh public key',
        'error',
        `${key}.pub ${pubText === undefined ? 'is missing' : "is not the public half of this host's key"}: the line the server was given may be another key's`,
        `write it again from the key: ssh-keygen -y -f ${quote(key)} > ${quote(`${key}.pub`)}; then check the server's authorized_keys has that key`,
      ),
    );
  else checks.push(check(r, 'ssh public key', 'ok', `${key}.pub is the public half of this host's key`));
  return checks;
}

/**
 * Our known_hosts as ssh reads it for this server (by ssh's own rules, known-hosts.ts):
 * exactly one line for it, the plain name target add writes with an ED25519 key (the
 * one key type it pins), and no list, wildcard, hashed or @cert-authority line trusting
 * another key for it. The file root's alone, 0600.
 */
function knownHostsChecks(r: RemoteTargetConfig): HealthCheck[] {
  const file = r.knownHosts;
  const what = 'known_hosts';
  const st = lstatOf(file);
  if (!st)
    return [check(r, what, 'error', `${file} does not exist: ssh will refuse the server`, `pin its key: ${again(r)}`)];
  if (st.isSymbolicLink() || !st.isFile() || st.uid !== 0 || (st.mode & 0o777) !== 0o600)
    return [
      check(
        r,
        what,
        'error',
        `${file} must be a regular file of root's, mode 0600 (it is ${st.isSymbolicLink() ? 'a symbolic link' : `uid ${st.uid}, mode ${mode(st)}`}): whoever can change it chooses which server this host trusts`,
        st.isSymbolicLink() || !st.isFile()
          ? `remove it and pin the server again: rm -- ${quote(file)} && ${again(r)}`
          : `chown root:root -- ${quote(file)} && chmod 600 -- ${quote(file)}`,
      ),
    ];
  const name = knownHostsName(r.host, r.port);
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => trustsKeyFor(l, name));
  const pinned = lines.filter((l) => /^(\S+) ssh-ed25519 [A-Za-z0-9+/]+=*(\s.*)?$/.exec(l.trim())?.[1] === name);
  if (lines.length === 0)
    return [
      check(
        r,
        what,
        'error',
        `${file} pins no key for ${name}: ssh will refuse the server`,
        `pin its key: ${again(r)}`,
      ),
    ];
  if (pinned.length !== 1 || lines.length !== 1)
    return [
      check(
        r,
        what,
        'error',
        `${file} has ${lines.length} line(s) ssh would take for ${name}${pinned.length === 1 ? ', and one is the pin' : ', none the plain ED25519 pin target add writes'}: ${lines
          .filter((l) => !pinned.includes(l))
          .map((l) => l.trim().split(/\s+/).slice(0, 2).join(' '))
          .join('; ')} (a list, wildcard, hashed or @cert-authority line trusts a key nobody confirmed)`,
        `compare the server's fingerprint with its own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there), then pin it again, which removes the other lines: ${again(r)} --fingerprint SHA256:…`,
      ),
    ];
  return [check(r, what, 'ok', `${file} pins one ED25519 key for ${name}`)];
}

/** The key refused: the line the server's authorized_keys needs, with this host's public key. */
function refusedFix(r: RemoteTargetConfig, host: string): string {
  let pub = '';
  try {
    pub = readFileSync(`${r.identity}.pub`, 'utf8').trim();
  } catch {
    // the key checks above name a missing .pub
  }
  return `add this line to ${destination(r)}'s authorized_keys on the server (with the server's serve root if it is not /srv/btrfs-vault): restrict,command="btrfs-vault serve --root /srv/btrfs-vault/${host}" ${pub || "<this host's public key>"}; or check the user name`;
}

/** The server now: reachable, our key taken, serve answering the protocol we speak. */
async function helloCheck(runner: Runner, r: RemoteTargetConfig, host: string): Promise<HealthCheck> {
  const what = 'reachable';
  const argv = sshProbe(r, { verb: 'hello' }, PROBE_TIMEOUT_S);
  const res = await runner.query(argv, { allowFailure: true, timeoutMs: PROBE_LIMIT_MS, outputLimit: 64 * 1024 });
  if (res.timedOut)
    return check(
      r,
      what,
      'warn',
      `${destination(r)} port ${r.port} took the connection and did not answer hello within ${PROBE_LIMIT_MS / 1000} s`,
      `check the server (journalctl -t btrfs-vault-serve there), then: btrfs-vault doctor`,
    );
  if (res.exitCode !== 0) {
    const err = sshError(r, new CommandFailedError('ssh … hello', res.exitCode, res.stderr));
    const unreachable = res.exitCode === 255 && UNREACHABLE.test(res.stderr);
    const refused = /Permission denied \(/i.test(res.stderr);
    return check(
      r,
      unreachable ? what : 'login',
      unreachable ? 'warn' : 'error',
      errorMessage(err).replace(/; nothing was sent.*$/s, ''),
      refused ? refusedFix(r, host) : (err as { fix?: string }).fix,
    );
  }
  let hello;
  try {
    hello = helloReply(r, res.stdout);
  } catch (err) {
    return check(r, 'protocol', 'error', errorMessage(err), (err as { fix?: string }).fix);
  }
  if (hello.protocol !== PROTOCOL)
    return check(
      r,
      'protocol',
      'error',
      `the server speaks protocol ${hello.protocol} (btrfs-vault ${hello.version}); this btrfs-vault speaks ${PROTOCOL}`,
      'install the same release of btrfs-vault on this host and on the server',
    );
  return check(
    r,
    what,
    'ok',
    `${destination(r)} port ${r.port} answers: btrfs-vault ${hello.version}, protocol ${hello.protocol}`,
  );
}
