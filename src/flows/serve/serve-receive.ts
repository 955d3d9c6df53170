import { readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RemoteRefusedError, UserError, VaultError, ExitCode } from '../../core/errors.js';
import { parseSubvolumeList } from '../../core/subvolumes.js';
import { btrfs } from '../../btrfs/commands.js';
import { StreamGuard } from '../../btrfs/stream-guard.js';
import { subvolumeInfo } from '../../btrfs/subvolume-info.js';
import { acquireLocks } from '../../system/lock.js';
import type { Runner } from '../../system/runner.js';
import { backupsIn, folderDir, folderListing, INCOMING, LATEST, spaceOf, type ServedBackup } from './serve-root.js';
import type { MinFree } from '../../config/values.js';
import { recordReceived } from './received-record.js';
import { removeStaging, stagingDir } from './staging.js';
import { clientIdleMs } from '../../system/wait-test-hooks.js';

/**
 * A client that sends no byte for this long is given up on, so its folder's lock is let
 * go: a laptop suspended mid-backup, a path that died without a reset (sshd's TCP
 * keepalive takes two hours). The client's own watchdog ([backup] stall_timeout) ends
 * its side; the next run is incremental from the last complete backup.
 */
export const CLIENT_IDLE_MS = 10 * 60_000;

// `receive FOLDER NAME UUID PARENT` (docs/SERVER.md, "Receiving safely"): the client's
// stream goes through the guard into a staging folder of its own, chrooted; what it made
// is checked there and only then put in place, read-only, synced, and `latest` moved.

export interface ReceiveRequest {
  folder: string;
  name: string;
  uuid: string;
  parent: string | null;
}

export async function serveReceive(
  runner: Runner,
  root: string,
  req: ReceiveRequest,
  stdin: Readable,
  minFree?: MinFree,
): Promise<ServedBackup> {
  const dir = join(root, req.folder);
  const lock = await acquireLocks(
    runner,
    [
      { what: `the serve folder ${dir}`, key: folderLockKey(root, req.folder) },
      // checkUnique holds only while no other receive of this UUID (another folder's) runs
      { what: `a receive of the UUID ${req.uuid}`, key: `serve uuid ${req.uuid}` },
    ],
    `btrfs-vault serve: receive ${req.folder} ${req.name}`,
  );
  const staging = stagingDir(root, req.name);
  try {
    // 1. what the line announced must fit what is here, before a byte is read
    if (folderDir(root, req.folder) && readdirSync(dir).includes(req.name))
      throw refused(`${req.folder}/${req.name} exists already; a client cannot overwrite a backup`);
    // the folder's backups and the filesystem's received UUIDs, read side by side
    const unique = checkUnique(runner, root, req);
    unique.catch(() => {}); // awaited below; a refusal of the parent comes first
    const existing = folderDir(root, req.folder) ? await backupsIn(runner, dir) : [];
    const parent = req.parent === null ? undefined : existing.find((b) => b.receivedUuid === req.parent);
    if (req.parent !== null && !parent)
      throw refused(`the parent ${req.parent} is no complete backup in ${req.folder}`);
    await unique;
    checkRoom(root, minFree, 'before it');

    // 2. the stream, guarded, into a fresh staging folder, confined there
    runner.change({ op: 'mkdir', path: join(root, INCOMING), mode: 0o700 });
    runner.change({ op: 'mkdir', path: staging, mode: 0o700 });
    const guard = new StreamGuard({ name: req.name, uuid: req.uuid, parent: req.parent });
    void pipeline(stdin, guard).catch(() => {}); // the guard's error reaches the receive below
    const idle = giveUpWhenIdle(stdin, guard, clientIdleMs(CLIENT_IDLE_MS));
    try {
      await runner.stream(btrfs.receiveConfined(staging), { input: guard });
    } finally {
      idle();
    }
    // what it wrote is counted once committed; under min_free, the finally below deletes it
    if (minFree) {
      await runner.run(btrfs.sync(staging));
      checkRoom(root, minFree, 'after it');
    }

    // 3. exactly what was announced
    const made = readdirSync(staging);
    if (made.length !== 1 || made[0] !== req.name)
      throw refused(`the stream made ${JSON.stringify(made)} in its staging folder, not ${JSON.stringify([req.name])}`);
    const got = await subvolumeInfo(runner, join(staging, req.name));
    if (!got.readonly || got.receivedUuid !== req.uuid)
      throw refused(
        `the received subvolume is ${got.readonly ? 'read-only' : 'writable'} with received UUID ${got.receivedUuid ?? 'none'}, not a complete copy of ${req.uuid}`,
      );
    if ((got.parentUuid ?? null) !== (parent?.uuid ?? null))
      throw refused(
        `the received subvolume's parent is ${got.parentUuid ?? 'none'}, not ${parent ? `${req.folder}/${parent.name} (${parent.uuid})` : 'none'}`,
      );

    // 4. in place: a read-only snapshot keeps the received UUID (a read-only subvolume cannot be moved)
    if (!folderDir(root, req.folder)) runner.change({ op: 'mkdir', path: dir, mode: 0o700 });
    await runner.run(btrfs.snapshot(join(staging, req.name), join(dir, req.name)));
    // the copy in place made durable; the staging copy's deletion meanwhile (it needs no sync)
    await Promise.all([removeStaging(runner, staging), runner.run(btrfs.sync(dir))]);
    // checked before latest points at it
    const placed = (await folderListing(runner, dir)).backups.find((b) => b.name === req.name);
    if (!placed || placed.receivedUuid !== req.uuid)
      throw new VaultError(
        `the copy put in place at ${join(dir, req.name)} is not a complete backup of ${req.uuid}`,
        ExitCode.failed,
        `see what is there: btrfs subvolume show -- ${join(dir, req.name)}`,
      );
    recordReceived(runner, root, {
      folder: req.folder,
      name: req.name,
      uuid: placed.uuid,
      receivedUuid: placed.receivedUuid,
      at: new Date().toISOString(),
    });
    runner.change({
      op: 'symlink',
      target: req.name,
      tmp: join(dir, '.latest.tmp'),
      path: join(dir, LATEST),
      durable: true,
    });
    return placed;
  } finally {
    try {
      await removeStaging(runner, staging);
    } finally {
      await lock.release();
    }
  }
}

/** A folder's lock (receive, the server's prune), by the root's real path: two spellings of one root are one lock. */
/** Ends the guard (and with it the receive) once `ms` pass without a byte from the client; returns the stop. */
function giveUpWhenIdle(stdin: Readable, guard: StreamGuard, ms: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  const stop = () => {
    clearTimeout(timer);
    stdin.off('data', arm);
    stdin.off('end', stop);
  };
  function arm() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stop();
      guard.destroy(
        new RemoteRefusedError(
          `the receive was ended: no byte came from the client for ${Math.round(ms / 1000)} s; nothing of it was kept`,
          'stream',
          "the client's next run sends again, from its last complete backup here; if this repeats, see why that host stops sending (suspended mid-backup, its network)",
        ),
      );
    }, ms);
  }
  // an observer beside the pipeline: the chunks still flow to the guard, with its backpressure
  stdin.on('data', arm);
  // after the client's last byte the wait is the server's own (the receive, the sync)
  stdin.once('end', stop);
  arm();
  return stop;
}

export function folderLockKey(root: string, folder: string): string {
  return `serve ${join(realpathSync(root), folder)}`;
}

/**
 * receive finds a parent or clone source by received UUID anywhere on the filesystem:
 * the new UUID must be on no subvolume yet, and the parent's on this folder's copy alone,
 * or another host's subvolume could be the one receive finds.
 */
async function checkUnique(runner: Runner, root: string, req: ReceiveRequest): Promise<void> {
  const { stdout } = await runner.query(btrfs.list(root), { bytes: true });
  const rows = parseSubvolumeList(stdout);
  if (rows.some((r) => r.receivedUuid === req.uuid))
    throw refused(`a subvolume with received UUID ${req.uuid} is on this filesystem already`);
  if (req.parent !== null) {
    const n = rows.filter((r) => r.receivedUuid === req.parent).length;
    if (n !== 1)
      throw refused(`${n} subvolumes on this filesystem have the parent's received UUID ${req.parent}, not one`);
  }
}

/** [serve] min_free: a host must not fill the server's filesystem for every other host */
function checkRoom(root: string, minFree: MinFree | undefined, when: string): void {
  if (!minFree) return;
  const { free, size } = spaceOf(root);
  const keep = 'bytes' in minFree ? minFree.bytes : Math.ceil((size * minFree.percent) / 100);
  if (free >= keep) return;
  // no free space could meet it: the config's to fix, not a full server
  if (keep >= size)
    throw new UserError(
      `the receive was refused: [serve] min_free asks for ${mib(keep)} free, as much as the server's filesystem holds (${mib(size)}) or more`,
      `the server's administrator: lower [serve] min_free in the server's config (e.g. min_free = "10%"); nothing of this backup was kept`,
    );
  throw new RemoteRefusedError(
    `the receive was refused: the server's filesystem has ${mib(free)} free ${when}, less than its min_free ${'bytes' in minFree ? mib(keep) : `${minFree.percent}% (${mib(keep)})`}`,
    'stream',
    "the server's administrator: free space there (prune, a bigger filesystem) or lower [serve] min_free; nothing of this backup was kept",
  );
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function refused(why: string): RemoteRefusedError {
  return new RemoteRefusedError(
    `the receive was refused: ${why}`,
    'stream',
    'list what the server holds (verb list) and send a stream that fits it (the client: btrfs-vault backup)',
  );
}
