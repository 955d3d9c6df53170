import { UserError } from '../core/errors.js';
import { serve } from '../flows/serve/serve.js';
import { makeRunner } from './make-runner.js';

/**
 * serve --root DIR (sshd's forced command: the verb line in SSH_ORIGINAL_COMMAND, the
 * answer on stdout, docs/SERVER.md), or serve --init DIR (make the serve root, say how
 * to authorise a host).
 */
export async function serveCommand(opts: { root?: string; init?: string; config: string }): Promise<number> {
  if ((opts.root === undefined) === (opts.init === undefined))
    throw new UserError('serve takes --root DIR or --init DIR (one of them)', 'see: btrfs-vault serve --help');
  const runner = makeRunner({});
  if (opts.init !== undefined) {
    // only here: serve --root (once per verb of a client) never reads the init's code
    const { serveInit } = await import('../flows/serve/serve-init.js');
    process.stdout.write(`${serveInit(runner, opts.init).join('\n')}\n`);
    return 0;
  }
  return serve(runner, opts.root!, {
    // loaded for a receive alone: the schema is no part of hello's, list's or send's start
    minFree: async () => (await import('../config/serve-config.js')).readServerSettings(opts.config)?.serve.minFree,
    line: process.env.SSH_ORIGINAL_COMMAND,
    stdin: process.stdin,
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
  });
}
