import { lstatSync, readdirSync, readlinkSync, statfsSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import { VaultError, ExitCode } from '../../core/errors.js';
import { isServeName } from '../../core/serve-verbs.js';
import { subvolumeInfosOrWhy, type SubvolumeInfo } from '../../btrfs/subvolume-info.js';
import type { Runner } from '../../system/runner.js';

// A serve root (`--root`, one per client key) and what it holds: folders named as the
// client's sources, in each the complete backups serve received and `latest`. Read
// only here; what changes it is serve-receive.ts.

const BTRFS_SUPER_MAGIC = 0x9123683e;
export const LATEST = 'latest';
/** serve's own staging folders; nothing of a client's is ever there */
export const INCOMING = '.incoming';

/** what a client sees of a backup (docs/SERVER.md, BACKUP) */
export interface ServedBackup {
  name: string;
  uuid: string;
  receivedUuid: string;
  parentUuid: string | null;
  readonly: true;
}

export interface ServedFolder {
  latest: string | null;
  backups: ServedBackup[];
}

/** The root is a folder on btrfs, root's alone; serve runs as root (btrfs receive needs it). */
export function checkServeRoot(root: string): void {
  const fix = (what: string) => `${what}; see docs/SERVER.md`;
  if ((process.geteuid?.() ?? 0) !== 0)
    throw new VaultError(
      'serve runs as root (btrfs receive makes subvolumes and sets their received UUID)',
      ExitCode.failed,
      fix("put the client's key line in root's authorized_keys"),
    );
  if (!isAbsolute(root))
    throw new VaultError(
      `the serve root ${root} is not an absolute path (sshd starts serve in the account's home folder)`,
      ExitCode.failed,
      fix(`name it from /: command="btrfs-vault serve --root /srv/btrfs-vault/HOST"`),
    );
  // a trailing `/` or `/.` would make lstat follow a link: the folder itself is looked at
  const plain = root.length > 1 ? root.replace(/\/+$/, '') : root;
  if (normalize(plain) !== plain)
    throw new VaultError(
      `the serve root ${root} is not a plain path (a . or .. component, or //)`,
      ExitCode.failed,
      fix(`name the folder itself: command="btrfs-vault serve --root ${normalize(plain)}"`),
    );
  let st;
  try {
    st = lstatSync(plain);
  } catch {
    throw new VaultError(
      `the serve root ${root} does not exist`,
      ExitCode.failed,
      fix(`make it on the server: mkdir -m 700 -- ${root}`),
    );
  }
  if (!st.isDirectory())
    throw new VaultError(
      `the serve root ${root} is not a folder (a link or a file)`,
      ExitCode.failed,
      fix('name the folder itself in --root'),
    );
  // a client's backup may hold setuid programs and device nodes: no one else may enter
  if (st.uid !== 0 || (st.mode & 0o077) !== 0)
    throw new VaultError(
      `the serve root ${root} is not root's alone (owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}): a client's backup may hold setuid programs`,
      ExitCode.failed,
      fix(`chown root: -- ${root} && chmod 700 -- ${root}`),
    );
  checkOnBtrfs(root, root);
}

/** `path` (the serve root, or the folder it is to be made in) is on btrfs, or the root cannot be there */
export function checkOnBtrfs(root: string, path: string): void {
  if (statfsSync(path).type !== BTRFS_SUPER_MAGIC)
    throw new VaultError(
      `the serve root ${root} is not on a btrfs filesystem`,
      ExitCode.failed,
      'make the serve root on btrfs; see docs/SERVER.md',
    );
}

/** The folder serve --init made, which holds a root per host (status and prune on the server). */
export function checkServeParent(serveRoot: string): void {
  let ok = false;
  try {
    ok = lstatSync(serveRoot).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok)
    throw new VaultError(
      `the serve root ${serveRoot} is not a folder`,
      ExitCode.usage,
      "name the folder serve --init made (the parent of each host's --root)",
    );
}

/** `<root>/<folder>` when it is a real folder, undefined when it is not there */
export function folderDir(root: string, folder: string): string | undefined {
  const dir = join(root, folder);
  try {
    const st = lstatSync(dir);
    if (st.isDirectory()) return dir;
  } catch {
    return undefined;
  }
  throw new VaultError(`${dir} is not a folder`, ExitCode.failed, `it is not serve's: move it out of ${root}`);
}

/** the folders of the root: real folders whose names a client may use */
export function folderNames(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && isServeName(e.name))
    .map((e) => e.name)
    .sort();
}

/** Every complete backup of the folder (read-only, with a received UUID), oldest first (by creation). */
export async function backupsIn(runner: Runner, dir: string): Promise<(ServedBackup & { cgen: number })[]> {
  return (await backupsInEach(runner, [dir]))[0]!;
}

/** backupsIn of each folder, read with one subvolume-info program for all (a list of every folder is one call). */
async function backupsInEach(runner: Runner, dirs: readonly string[]): Promise<(ServedBackup & { cgen: number })[][]> {
  // a subvolume's root folder has inode 256: anything else is no backup
  const names = dirs.map((dir) =>
    readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && isServeName(e.name))
      .map((e) => e.name)
      .filter((n) => lstatSync(join(dir, n)).ino === 256),
  );
  const infos = await subvolumeInfosOrWhy(
    runner,
    dirs.flatMap((dir, i) => names[i]!.map((n) => join(dir, n))),
  );
  let at = 0;
  return names.map((folderNames) =>
    folderNames
      .map((name) => ({ info: infos[at++]!, name }))
      .filter((x): x is { info: SubvolumeInfo; name: string } => typeof x.info !== 'string')
      .filter(({ info }) => info.readonly && info.receivedUuid !== undefined)
      .map(({ info, name }) => ({
        name,
        uuid: info.uuid,
        receivedUuid: info.receivedUuid!,
        parentUuid: info.parentUuid ?? null,
        readonly: true as const,
        cgen: info.cgen ?? 0,
      }))
      .sort((a, b) => a.cgen - b.cgen || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  );
}

export async function folderListing(runner: Runner, dir: string): Promise<ServedFolder> {
  return (await folderListings(runner, [dir]))[0]!;
}

/** Each folder's listing (docs/SERVER.md, list), one subvolume-info program for all of them. */
export async function folderListings(runner: Runner, dirs: readonly string[]): Promise<ServedFolder[]> {
  const each = await backupsInEach(runner, dirs);
  return dirs.map((dir, i) => {
    const backups = each[i]!.map(({ cgen: _, ...b }) => b);
    let latest: string | null = null;
    try {
      const target = readlinkSync(join(dir, LATEST));
      if (backups.some((b) => b.name === target)) latest = target;
    } catch {
      /* no link yet */
    }
    return { latest, backups };
  });
}

/** what is free on the root's filesystem (for an unprivileged user too), and its size */
export function spaceOf(root: string): { free: number; size: number } {
  const st = statfsSync(root);
  return { free: st.bavail * st.bsize, size: st.blocks * st.bsize };
}
