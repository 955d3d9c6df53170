import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { withRemoteTable } from '../../config/config-text.js';
import type { RemoteTargetConfig, VaultConfig } from '../../config/config.js';
import { REMOTE_DEFAULTS } from '../../config/remote-tables.js';
import { SSH_DESTINATION } from '../../config/schema.js';
import { targetNameProblem } from '../../config/target-tables.js';
import { targetsOf } from '../../config/target-view.js';
import { TargetError, UserError } from '../../core/errors.js';
import { isServeName } from '../../core/serve-verbs.js';
import type { Runner } from '../../system/runner.js';
import { knownHostsName, trustsKeyFor } from './known-hosts.js';
import { sshPath } from './ssh.js';

// `target add NAME --ssh user@host`: this host's own key for the server, the server's
// host key pinned (after a person, or --fingerprint, confirmed it), the table in the
// config, and the one line the server's authorized_keys needs. Nothing secret is shown:
// the public key is not a secret, the private key never leaves its file.

export interface TargetAddInput {
  runner: Runner;
  /** the config file (it may not exist yet: then it is made with this table alone) */
  configFile: string;
  /** the loaded config, when the file exists */
  config?: VaultConfig;
  name: string;
  ssh: string;
  port?: number;
  /** the fingerprint a person read from the server (SHA256:…): confirms without asking */
  fingerprint?: string;
  /** the server's folder of every host's root */
  serveRoot: string;
  /** this host's name (its folder under the serve root): the config's `host`, else this one, else the machine's */
  host?: string;
  /** asks a person whether the fingerprint is the server's (undefined: nobody to ask) */
  confirmHostKey?: (fingerprint: string, where: string) => Promise<boolean>;
  log: (line: string) => void;
}

export interface TargetAddReport {
  name: string;
  ssh: string;
  port: number;
  /** the host key pinned */
  fingerprint: string;
  identity: string;
  knownHosts: string;
  /** made now, or the one the config named already */
  key: 'made' | 'kept';
  /** the table was written now, or was there already (the key pinned again) */
  config: 'added' | 'kept';
  authorizedKeysLine: string;
}

const SERVE_ROOT = /^\/[A-Za-z0-9._@+/-]*$/;

/**
 * The checks that need neither the server nor the config: setup makes them before it
 * touches a disk, so a typo in the server's answers stops it before anything is written.
 */
export function checkTargetInput(input: Pick<TargetAddInput, 'name' | 'ssh' | 'port' | 'serveRoot'>): number {
  const { name } = input;
  const bad = targetNameProblem(name);
  if (bad) throw new UserError(`the target name ${JSON.stringify(name)} ${bad}`, 'choose another name, e.g. offsite');
  if (!SSH_DESTINATION.test(input.ssh))
    throw new UserError(
      `--ssh ${JSON.stringify(input.ssh)} is not user@host`,
      'give the server as user@host, e.g. --ssh backup@vault.example.org (the port with --port)',
    );
  const port = input.port ?? REMOTE_DEFAULTS.port;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UserError(`--port ${input.port} is not a port`, 'give a port from 1 to 65535');
  // the line goes into the server's authorized_keys, run there by a shell: nothing a shell would read
  if (!SERVE_ROOT.test(input.serveRoot) || input.serveRoot.split('/').includes('..'))
    throw new UserError(
      `--serve-root ${JSON.stringify(input.serveRoot)} is not a plain absolute path (letters, digits, ".", "_", "@", "+", "-", "/")`,
      'give the serve root as an absolute path without blanks, quotes or "..", e.g. --serve-root /srv/btrfs-vault',
    );
  return port;
}

export async function targetAdd(input: TargetAddInput): Promise<TargetAddReport> {
  const { runner, config, name } = input;
  const port = checkTargetInput(input);
  const host = config?.host ?? input.host ?? hostname().split('.')[0]!;
  if (!isServeName(host))
    throw new UserError(
      `this host's name ${JSON.stringify(host)} cannot name its folder on a backup server`,
      'set host = "..." in the config to a name of letters, digits, ".", "_", "-"',
    );
  const existing = config?.remotes?.find((r) => r.name === name);
  if (config && !existing && targetsOf(config).some((t) => t.name === name))
    throw new UserError(`${config.file} has a backup disk named ${name} already`, 'choose another name for the server');
  const at = (atIn: RemoteTargetConfig | undefined, key: 'identity' | 'knownHosts', dflt: string) =>
    atIn?.[key] ?? resolve(dirname(resolve(input.configFile)), dflt);
  const identity = at(existing, 'identity', REMOTE_DEFAULTS.identity);
  const knownHosts = at(existing, 'knownHosts', REMOTE_DEFAULTS.known_hosts);
  sshPath(identity, 'identity', name);
  sshPath(knownHosts, 'known_hosts', name);
  const [user, serverHost] = splitDestination(input.ssh);
  if (existing && (existing.user !== user || existing.host !== serverHost || existing.port !== port))
    throw new UserError(
      `[targets.${name}] in ${config!.file} is ${existing.user}@${existing.host} port ${existing.port} already`,
      `to pin its key again, give the same --ssh and --port; for another server choose another name`,
    );

  // the server's host key first: nothing is written for a server whose key is not confirmed
  const line = await scanHostKey(runner, serverHost, port);
  const fingerprint = await fingerprintOf(runner, line);
  const where = `${input.ssh} port ${port}`;
  input.log(`the server ${where} shows the host key ${fingerprint} (ED25519)`);
  if (input.fingerprint !== undefined) {
    if (input.fingerprint !== fingerprint)
      throw new TargetError(
        `the server ${where} shows the host key ${fingerprint}, not ${input.fingerprint}: someone may be in between, or it is another server; nothing was written`,
        'compare with the fingerprint the server itself shows (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there)',
      );
  } else if (!input.confirmHostKey || !(await input.confirmHostKey(fingerprint, where))) {
    throw new UserError(
      input.confirmHostKey
        ? `the host key ${fingerprint} of ${where} was not confirmed; nothing was written`
        : `the host key ${fingerprint} of ${where} needs a confirmation, and there is no terminal to ask; nothing was written`,
      `compare it with the server's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there), then run again with --fingerprint ${fingerprint}`,
    );
  }

  const key = await ownKey(runner, config, identity, host);
  pinHostKey(runner, knownHosts, serverHost, port, line);
  let configState: TargetAddReport['config'] = 'kept';
  if (!existing) {
    const text = existsSync(input.configFile) ? readFileSync(input.configFile, 'utf8') : '';
    runner.change({
      op: 'write-durably',
      path: resolve(input.configFile),
      data: withRemoteTable(text, input.configFile, name, {
        ssh: input.ssh,
        port: port === REMOTE_DEFAULTS.port ? undefined : port,
      }),
      mode: 0o600,
      replace: true,
      folder: 0o700,
      about: 'the config',
    });
    configState = 'added';
  }
  const pub = publicKey(runner, identity);
  const authorizedKeysLine = `restrict,command="btrfs-vault serve --root ${input.serveRoot.replace(/\/+$/, '')}/${host}" ${pub}`;
  return {
    name,
    ssh: input.ssh,
    port,
    fingerprint,
    identity,
    knownHosts,
    key,
    config: configState,
    authorizedKeysLine,
  };
}

function splitDestination(ssh: string): [string, string] {
  const at = ssh.lastIndexOf('@');
  const host = ssh.slice(at + 1);
  return [ssh.slice(0, at), host.startsWith('[') ? host.slice(1, -1) : host];
}

/** The server's ED25519 host key, as ssh-keyscan got it: exactly one key line, or the run stops. */
async function scanHostKey(runner: Runner, host: string, port: number): Promise<string> {
  const r = await runner.query(['ssh-keyscan', ['-T', '15', '-p', String(port), '-t', 'ed25519', '--', host]], {
    allowFailure: true,
  });
  const keys = r.stdout
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => /^\S+ (ssh-ed25519 [A-Za-z0-9+/]{68}(?:=){0,2})$/.exec(l));
  if (keys.length !== 1 || !keys[0])
    throw new TargetError(
      `the server ${host} port ${port} showed no ED25519 host key (${keys.length} answer line(s)): ${r.stderr.trim().split('\n').at(-1) ?? ''}; nothing was written`,
      `check that sshd runs there and listens on port ${port} (ssh-keyscan -p ${port} -t ed25519 -- ${host}), then run again`,
    );
  return keys[0][1]!;
}

async function fingerprintOf(runner: Runner, key: string): Promise<string> {
  const r = await runner.query(['ssh-keygen', ['-l', '-E', 'sha256', '-f', '-']], { input: `${key}\n` });
  const m = /^\d+ (SHA256:[A-Za-z0-9+/]{43}) /.exec(r.stdout);
  if (!m) throw new TargetError(`ssh-keygen -lf read no fingerprint from the server's key: ${r.stdout.trim()}`);
  return m[1]!;
}

/**
 * This host's key for the server: made with no passphrase (a timer runs the backups),
 * 0600 in a 0700 folder; a key already at that path is used only when the config names
 * it already (another server's), never overwritten.
 */
async function ownKey(
  runner: Runner,
  config: VaultConfig | undefined,
  identity: string,
  host: string,
): Promise<'made' | 'kept'> {
  if (existsSync(identity) || existsSync(`${identity}.pub`)) {
    if (config?.remotes?.some((r) => r.identity === identity) && existsSync(`${identity}.pub`)) return 'kept';
    throw new UserError(
      `${identity} exists already, and no backup server of the config names it: it is not btrfs-vault's to use or replace; nothing was written`,
      'move it away if it is nobody\'s, or name another key file with identity = "..." in the table',
    );
  }
  runner.change({ op: 'mkdir', path: dirname(identity), mode: 0o700, parents: true });
  await runner.run(['ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `btrfs-vault@${host}`, '-f', identity]]);
  return 'made';
}

/** The server's key in our known_hosts (0600): every line for this host and port replaced, others kept. */
function pinHostKey(runner: Runner, knownHosts: string, host: string, port: number, key: string): void {
  const pattern = knownHostsName(host, port);
  const old = existsSync(knownHosts) ? readFileSync(knownHosts, 'utf8').split('\n') : [];
  // every line that would trust another key for this server goes, whatever its form
  const kept = old.filter((l) => l !== '' && !trustsKeyFor(l, pattern));
  runner.change({
    op: 'write',
    path: knownHosts,
    text: [...kept, `${pattern} ${key}`].join('\n') + '\n',
    mode: 0o600,
    durable: true,
    folder: 0o700,
    about: "the backup server's pinned host key",
  });
}

/** The public half (type, key, comment); in a dry-run, where no key was made, a placeholder. */
function publicKey(runner: Runner, identity: string): string {
  const path = `${identity}.pub`;
  if (!existsSync(path) && !runner.changesTakeEffect) return 'ssh-ed25519 <the key target add makes>';
  const pub = readFileSync(path, 'utf8').trim();
  if (!/^ssh-ed25519 [A-Za-z0-9+/=]+ \S+$/.test(pub))
    throw new TargetError(
      `${path} is not an ED25519 public key`,
      `move ${path} and its private key away, then run again`,
    );
  return pub;
}

export const DEFAULT_SERVE_ROOT = '/srv/btrfs-vault';
