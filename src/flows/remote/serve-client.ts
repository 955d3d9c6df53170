import * as z from 'zod/mini';
import { assertPrivateFile } from '../../config/permissions.js';
import type { RemoteTargetConfig } from '../../config/config.js';
import { CommandFailedError, TargetError } from '../../core/errors.js';
import { isServeName, PROTOCOL, UUID_RE, type ServeVerb } from '../../core/serve-verbs.js';
import { privateDir } from '../../system/lock.js';
import { formatArgv, type Argv, type Runner } from '../../system/runner.js';
import { helloLimitMs } from '../../system/wait-test-hooks.js';
import { destination, SSH_CONTROL_DIR, sshExit, sshVerb } from './ssh.js';

// The client of `btrfs-vault serve` (docs/SERVER.md): each verb over the run's one ssh
// connection, each reply checked against the protocol before anything is believed. A
// server that cannot be reached, a changed host key, a refused key or a refusal of serve
// is a TargetError naming the fix, never an empty answer.

const name = z.string().check(z.refine((v) => isServeName(v), 'is not a protocol name'));
const uuid = z.string().check(z.regex(UUID_RE, 'is not a lowercase UUID'));

export const backupSchema = z.object({
  name,
  uuid,
  receivedUuid: uuid,
  parentUuid: z.nullable(uuid),
  readonly: z.literal(true),
});
export type RemoteBackup = z.infer<typeof backupSchema>;

// no free space: a client has no use for it, and a server does not tell it (docs/SERVER.md)
const helloSchema = z.object({ protocol: z.number(), version: z.string() });
const listSchema = z.object({
  folders: z.record(name, z.object({ latest: z.nullable(name), backups: z.array(backupSchema) })),
});
/** a list answer of this release says hello's too; an older server's only the folders */
const versionSchema = z.object({ protocol: z.optional(z.number()), version: z.optional(z.string()) });
const listHelloSchema = z.object({ ...helloSchema.shape, ...listSchema.shape });
const receivedSchema = z.object({ received: backupSchema });
const filesSchema = z.object({
  files: z.array(
    z.object({
      backup: name,
      type: z.enum(['file', 'folder', 'symlink', 'other']),
      size: z.number().check(z.int(), z.nonnegative()),
      mtime: z.iso.datetime(),
      mode: z.number().check(z.int(), z.nonnegative(), z.lte(0o7777)),
    }),
  ),
});
export type RemoteEntry = z.infer<typeof filesSchema>['files'][number];

export type Hello = z.infer<typeof helloSchema>;
export type RemoteFolders = z.infer<typeof listSchema>['folders'];

/** a reply is one JSON line; anything much longer is not a protocol 1 answer */
const REPLY_LIMIT = 32 * 1024 * 1024;
/** hello does nothing on the server (doctor's probe waits 20 s); list and files read its folders */
const HELLO_LIMIT_MS = 30_000;
const ANSWER_LIMIT_MS = 300_000;

export class ServeClient {
  constructor(
    readonly runner: Runner,
    readonly remote: RemoteTargetConfig,
    readonly controlDir = SSH_CONTROL_DIR,
  ) {}

  /** What the server is: its protocol is ours, or nothing more is asked of it. */
  async hello(): Promise<Hello> {
    await this.beforeFirst();
    return this.sameProtocol(parseReply(this.remote, 'hello', helloSchema, await this.ask({ verb: 'hello' })));
  }

  /**
   * A run's first call: the list (one folder, or all of them), whose answer says what
   * hello says too, so a run needs no hello of its own. An older server's answer lacks it:
   * then hello asks, and nothing of the list is used before the protocol is known as ours.
   */
  async open(folder?: string): Promise<{ hello: Hello; folders: RemoteFolders }> {
    await this.beforeFirst();
    const text = await this.ask({ verb: 'list', folder });
    const version = parseReply(this.remote, 'list', versionSchema, text);
    if (version.protocol === undefined) {
      const hello = await this.hello();
      return { hello, folders: parseReply(this.remote, 'list', listSchema, text).folders };
    }
    this.sameProtocol({ protocol: version.protocol, version: version.version ?? 'unknown' });
    const { folders, ...hello } = parseReply(this.remote, 'list', listHelloSchema, text);
    return { hello, folders };
  }

  /** A folder's complete backups on the server (an unknown folder: none, said so by the server). */
  async list(folder?: string): Promise<RemoteFolders> {
    return parseReply(this.remote, 'list', listSchema, await this.ask({ verb: 'list', folder })).folders;
  }

  /** What each complete backup of the folder holds at `path` (relative to the backup), oldest first. */
  async files(folder: string, path: string): Promise<RemoteEntry[]> {
    return parseReply(this.remote, 'files', filesSchema, await this.ask({ verb: 'files', folder, path })).files;
  }

  /** The command that receives a stream on the server (the writer is `btrfs send`). */
  receiveArgv(folder: string, backup: string, snapshotUuid: string, parentUuid: string | null): Argv {
    return this.argv({ verb: 'receive', folder, name: backup, uuid: snapshotUuid, parent: parentUuid });
  }

  /** The command that sends a backup's stream from the server (the reader is `btrfs receive`). */
  sendArgv(folder: string, backup: string, parent: string | null): Argv {
    return this.argv({ verb: 'send', folder, name: backup, parent });
  }

  /** The server's answer to a receive: the copy it holds is the one announced, or the run says what it got. */
  received(output: string, backup: string, snapshotUuid: string): RemoteBackup {
    const got = parseReply(this.remote, 'receive', receivedSchema, output).received;
    if (got.name !== backup || got.receivedUuid !== snapshotUuid)
      throw new TargetError(
        `the backup server ${this.where()} answered the receive of ${backup} (UUID ${snapshotUuid}) with ${got.name} (received UUID ${got.receivedUuid}); the backup is not counted as done`,
        'run the backup again; if it happens again, check the server (btrfs-vault status there)',
      );
    return got;
  }

  /** Ends the run's master connection; one that was never made is no failure. */
  async close(): Promise<void> {
    await this.runner.query(sshExit(this.remote, this.controlDir), { allowFailure: true });
  }

  argv(verb: ServeVerb): Argv {
    return sshVerb(this.remote, verb, this.controlDir);
  }

  private async beforeFirst(): Promise<void> {
    if (this.controlDir === SSH_CONTROL_DIR) privateDir(this.controlDir);
    // ssh run by root takes a key file another account owns: that account could read it
    await assertPrivateFile(this.remote.identity, `the SSH key of [targets.${this.remote.name}]`);
  }

  private sameProtocol<T extends { protocol: number; version: string }>(reply: T): T {
    if (reply.protocol !== PROTOCOL)
      throw new TargetError(
        `the backup server ${this.where()} speaks protocol ${reply.protocol} (btrfs-vault ${reply.version}); this btrfs-vault speaks ${PROTOCOL}; nothing was sent`,
        'install the same release of btrfs-vault on this host and on the server',
      );
    return reply;
  }

  private where(): string {
    return `${this.remote.name} (${destination(this.remote)})`;
  }

  private async ask(verb: ServeVerb): Promise<string> {
    const argv = this.argv(verb);
    const timeoutMs = verb.verb === 'hello' ? helloLimitMs(HELLO_LIMIT_MS) : ANSWER_LIMIT_MS;
    let res;
    try {
      // a server that took the connection and never answers (a hung filesystem there) must not hold the run for ever
      // an answer past the limit can only be refused: ssh is ended there, the rest of a
      // flood is not read (for up to the answer's time limit)
      res = await this.runner.query(argv, {
        allowFailure: true,
        timeoutMs,
        outputLimit: REPLY_LIMIT,
        endPastLimit: true,
      });
    } catch (err) {
      throw sshError(this.remote, err);
    }
    if ((res.outputCut ?? 0) > 0) throw notAReply(this.remote, verb.verb, `more than ${REPLY_LIMIT} bytes`);
    if (res.timedOut)
      throw new TargetError(
        `the backup server ${this.where()} took the connection and did not answer ${verb.verb} within ${timeoutMs / 1000} s; nothing was sent`,
        'check the server (journalctl -t btrfs-vault-serve there; a filesystem that hangs), then run again',
      );
    if (res.exitCode !== 0)
      throw sshError(this.remote, new CommandFailedError(formatArgv(argv), res.exitCode, res.stderr));
    return res.stdout;
  }
}

/** A hello's answer, checked as the run checks it (doctor asks it on a connection of its own). */
export function helloReply(remote: RemoteTargetConfig, text: string): Hello {
  return parseReply(remote, 'hello', helloSchema, text);
}

function notAReply(remote: RemoteTargetConfig, verb: string, why: string): TargetError {
  return new TargetError(
    `the backup server ${remote.name} (${destination(remote)}) answered ${verb} with something that is not a protocol ${PROTOCOL} reply (${why}); nothing of it was used`,
    'check that the key line in the server\'s authorized_keys runs "btrfs-vault serve --root …" of the same release as this host',
  );
}

function parseReply<T>(remote: RemoteTargetConfig, verb: string, schema: z.ZodMiniType<T>, text: string): T {
  const bad = (why: string) => notAReply(remote, verb, why);
  if (text.length > REPLY_LIMIT) throw bad(`${text.length} bytes`);
  const lines = text.split('\n').filter((l) => l !== '');
  if (lines.length !== 1) throw bad(`${lines.length} lines`);
  let data: unknown;
  try {
    data = JSON.parse(lines[0]!);
  } catch {
    throw bad('not JSON');
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw bad(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data;
}

/** ssh's messages for a server it could not reach (the network's fault, not the server's keys) */
export const UNREACHABLE =
  /Connection refused|timed out|No route to host|Network is unreachable|Could not resolve hostname|Connection closed by|Connection reset|Name or service not known|Temporary failure in name resolution/i;

/**
 * What an ssh command's failure means, as the error a person can act on: ssh's own
 * failures (exit 255) by its message, serve's refusals (one line, "btrfs-vault serve: what;
 * fix") as they are. Anything else stays the command's failure.
 */
export function sshError(remote: RemoteTargetConfig, err: unknown): unknown {
  if (!(err instanceof CommandFailedError)) return err;
  const where = `the backup server ${remote.name} (${destination(remote)}, port ${remote.port})`;
  const stderr = err.stderr;
  if (
    /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|No (ED25519 )?host key is known/i.test(stderr)
  )
    return new TargetError(
      `${where} did not show the host key pinned in ${remote.knownHosts}: the server was reinstalled, or someone is in between; nothing was sent`,
      `ask the server's admin for its key's fingerprint (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there); if the server was reinstalled, pin its new key: btrfs-vault target add ${remote.name} --ssh ${destination(remote)} --port ${remote.port} --fingerprint SHA256:…`,
    );
  // ssh skips a key file others may read and then reports only the refused login
  if (/UNPROTECTED PRIVATE KEY FILE|bad permissions/i.test(stderr))
    return new TargetError(
      `${where} could not be logged in to: ssh did not offer this host's key ${remote.identity}, which others may read; nothing was sent`,
      `make it root's alone: chown root: -- ${remote.identity} && chmod 600 -- ${remote.identity}`,
    );
  if (/Permission denied \(/i.test(stderr))
    return new TargetError(
      `${where} refused this host's key (${remote.identity}); nothing was sent`,
      `add the key's line to the server's authorized_keys (btrfs-vault target add ${remote.name} --ssh ${destination(remote)} prints it), or check the user name`,
    );
  if (err.programExitCode === 255 && UNREACHABLE.test(stderr))
    return new TargetError(
      `${where} could not be reached: ${lastLine(stderr)}; nothing was sent, and the next run goes on from the last backup there`,
      `check that the server is up and reachable (ssh -p ${remote.port} ${destination(remote)} from here, a firewall, the host name), then run the backup again`,
    );
  const serve = /^btrfs-vault serve: (.*?)(?:; (.*))?$/m.exec(stderr);
  if (serve)
    return new TargetError(
      `${where} refused: ${serve[1]}`,
      serve[2] ?? "look at the server's journal (journalctl -t btrfs-vault-serve there)",
    );
  if (err.programExitCode === 255)
    return new TargetError(
      `ssh to ${where} failed: ${lastLine(stderr) || err.message}; nothing was sent`,
      `try it by hand: ssh -p ${remote.port} ${destination(remote)} hello`,
    );
  return err;
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('Warning: Permanently added'))
      .at(-1) ?? ''
  );
}
