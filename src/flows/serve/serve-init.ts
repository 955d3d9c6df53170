import { existsSync } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import { UserError } from '../../core/errors.js';
import type { Runner } from '../../system/runner.js';
import { checkOnBtrfs, checkServeRoot } from './serve-root.js';
import { mountWarning } from './mount-options.js';

// `btrfs-vault serve --init DIR`: the serve root made (0700) and checked, and how to
// authorise a host. The root's path goes into authorized_keys' command="…", which sshd
// hands to the account's shell: so it must be a path no shell or sshd reads otherwise.

const SAFE_PATH = /^\/[A-Za-z0-9/._+@=-]*$/;

export function serveInit(runner: Runner, dir: string): string[] {
  if (!isAbsolute(dir) || !SAFE_PATH.test(dir) || dir.split('/').some((p) => p === '..' || p === '.'))
    throw new UserError(
      `the serve root ${JSON.stringify(dir)} must be an absolute path of letters, digits and / . _ + @ = - (it goes into authorized_keys' command="…", which a shell reads)`,
      'name another folder, e.g. /srv/btrfs-vault',
    );
  const root = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
  if (!existsSync(root)) {
    // checked before it is made: a refused root is not left behind
    if (existsSync(dirname(root))) checkOnBtrfs(root, dirname(root));
    runner.change({ op: 'mkdir', path: root, mode: 0o700 });
  }
  if (runner.changesTakeEffect) checkServeRoot(root);
  const warning = existsSync(root) ? mountWarning(root) : mountWarning(dirname(root));
  return [
    `serve root: ${root} (btrfs, root's alone)`,
    ...(warning ? ['', ...warning] : []),
    '',
    'To authorise a host, on this server as root:',
    `  1. its own folder:  mkdir -m 700 -- ${root}/HOST`,
    "  2. its key, one line in root's ~/.ssh/authorized_keys (the host prints it: btrfs-vault target add NAME --ssh root@SERVER):",
    `     restrict,command="btrfs-vault serve --root ${root}/HOST" ssh-ed25519 AAAA... btrfs-vault@HOST`,
    '',
    'HOST: letters, digits and . _ + @ = - (no /). The key can then only receive into, list and',
    `send from ${root}/HOST: no shell, no forwarding (restrict), nothing outside its folder, no delete.`,
    'The account is root: btrfs receive makes subvolumes and sets their received UUIDs, which needs it.',
  ];
}
