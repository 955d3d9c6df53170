import type { Readable } from 'node:stream';
import { isVaultError, ExitCode, RemoteRefusedError, VaultError } from '../../core/errors.js';
import { parseVerbLine, PROTOCOL } from '../../core/serve-verbs.js';
import { VERSION } from '../../core/version.js';
import type { Runner } from '../../system/runner.js';
import { checkServeRoot, folderDir, folderListings, folderNames } from './serve-root.js';
import type { MinFree } from '../../config/values.js';
import { serveLog } from './serve-log.js';
import { serveReceive } from './serve-receive.js';
import { serveSend } from './serve-send.js';
import { serveFiles } from './serve-files.js';
import { removeDeadStaging } from './staging.js';
import { join } from 'node:path';

// `btrfs-vault serve --root DIR`, sshd's forced command for one client key: one verb
// line from SSH_ORIGINAL_COMMAND, one answer (docs/SERVER.md). Its errors are answered
// here, not by the cli's handler: the protocol's one stderr line, and each refusal
// logged with the client's line.

export interface ServeIo {
  /** SSH_ORIGINAL_COMMAND, undefined when sshd gave none */
  line: string | undefined;
  stdin: Readable;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** [serve] min_free of the server's config (read for a receive alone): a receive must leave this much free */
  minFree?: () => Promise<MinFree | undefined>;
}

export async function serve(runner: Runner, root: string, io: ServeIo): Promise<number> {
  try {
    if (io.line === undefined)
      throw new RemoteRefusedError(
        'no verb line (SSH_ORIGINAL_COMMAND is not set)',
        'verb',
        'serve is the forced command of a client key in authorized_keys; the client sends the verb line',
      );
    const parsed = parseVerbLine(io.line);
    if (!parsed.ok)
      throw new RemoteRefusedError(
        `the verb line was refused: ${parsed.reason}`,
        'verb',
        'send a verb line of docs/SERVER.md',
      );
    checkServeRoot(root);
    await removeDeadStaging(runner, root);
    const v = parsed.verb;
    switch (v.verb) {
      case 'hello':
        io.stdout(answer(hello()));
        break;
      case 'list': {
        // hello's answer too: a client's run begins with a list alone (one round trip less)
        const names = (v.folder === undefined ? folderNames(root) : [v.folder]).filter((f) => folderDir(root, f));
        const listings = await folderListings(
          runner,
          names.map((f) => join(root, f)),
        );
        io.stdout(answer({ ...hello(), folders: Object.fromEntries(names.map((f, i) => [f, listings[i]])) }));
        break;
      }
      case 'receive': {
        const received = await serveReceive(runner, root, v, io.stdin, await io.minFree?.());
        await serveLog(runner, { outcome: 'received', root, line: io.line, reason: join(v.folder, v.name) });
        io.stdout(answer({ received }));
        break;
      }
      case 'send':
        await serveSend(runner, root, v);
        break;
      case 'files':
        io.stdout(answer({ files: await serveFiles(runner, root, v) }));
        break;
    }
    return ExitCode.ok;
  } catch (err) {
    const e = isVaultError(err)
      ? err
      : new VaultError(`internal error: ${err instanceof Error ? err.message : String(err)}`, ExitCode.internal);
    const refusal = e instanceof RemoteRefusedError || (isVaultError(err) && err.name === 'RemoteRefusedError');
    await serveLog(runner, {
      outcome: refusal ? 'refused' : 'failed',
      root,
      line: io.line ?? null,
      reason: e.message,
      exitCode: e.exitCode,
    });
    io.stderr(
      `btrfs-vault serve: ${oneLine(e.message)}; ${oneLine(e.fix ?? 'see the server log (tag btrfs-vault-serve)')}\n`,
    );
    return e.exitCode;
  }
}

// no free space: a client has no use for it, and it is the server's to know
function hello(): { protocol: number; version: string } {
  return { protocol: PROTOCOL, version: VERSION };
}

function answer(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/** the protocol's stderr is one line: a program's stderr inside a message is folded */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' / ');
}
