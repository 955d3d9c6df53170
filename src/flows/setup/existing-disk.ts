import { closeSync, openSync, readSync } from 'node:fs';
import { exists, waitForDevice } from '../../stack/devices.js';
import { luksCommands } from '../../stack/luks.js';
import { raidCommands } from '../../stack/raid.js';
import type { Runner } from '../../system/runner.js';
import { withScratchCopy } from '../../system/scratch.js';

// Does the passphrase open the backup disk found on the chosen disk? Then setup adds
// this host to it; otherwise it is someone else's old disk, and only a wipe may reuse it.

/**
 * Assembles the array if needed and tests the passphrase; stops it again when it does
 * not open. A dry-run assembles nothing: it reads the LUKS header out of the member.
 */
export async function opensExisting(
  runner: Runner,
  array: string,
  partition: string,
  passphrase: string,
): Promise<boolean> {
  const running = await exists(array);
  // an array a dry-run assembles does not come up: the passphrase is tested without one
  if (!running && !runner.changesTakeEffect) return opensMemberHeader(runner, partition, passphrase);
  if (!running) {
    // by the array's UUID, so that every attached member joins (by the device alone, the
    // other half of a whole mirror would be left out and go stale)
    const uuid = arrayUuid((await runner.query(raidCommands.examine(partition), { allowFailure: true })).stdout);
    await runner.run(
      uuid ? raidCommands.assembleByUuid(array, uuid) : raidCommands.assembleByDevice(array, partition),
      { allowFailure: true },
    );
    await waitForDevice(array, 5000);
  }
  const r = await runner.query(luksCommands.testPassphrase(array), { input: passphrase, allowFailure: true });
  if (r.exitCode !== 0 && !running && (await exists(array)))
    await runner.run(raidCommands.stop(array), { allowFailure: true });
  return r.exitCode === 0;
}

/** "Array UUID : 0d6b…:…" of `mdadm --examine` */
export function arrayUuid(examine: string): string | undefined {
  return /^\s*Array UUID : ([0-9a-f:]+)/m.exec(examine)?.[1];
}

/** "Data Offset : 264192 sectors" of `mdadm --examine`: where the array's data starts in a member */
export function dataOffsetBytes(examine: string): number | undefined {
  const m = /^\s*Data Offset\s*:\s*(\d+) sectors/m.exec(examine);
  return m ? Number(m[1]) * 512 : undefined;
}

/**
 * The LUKS2 header's length from its first 4 KiB and JSON area: both binary headers
 * with their JSON, then the keyslots (what `cryptsetup` needs to test a passphrase).
 */
export function luks2HeaderBytes(read: (offset: number, length: number) => Buffer): number | undefined {
  const bin = read(0, 4096);
  if (bin.length < 4096 || bin.toString('latin1', 0, 6) !== 'LUKS\xba\xbe' || bin.readUInt16BE(6) !== 2)
    return undefined;
  const hdrSize = Number(bin.readBigUInt64BE(8));
  if (hdrSize < 4096 || hdrSize > 4 * 1024 * 1024) return undefined;
  const jsonText = read(4096, hdrSize - 4096)
    .toString('utf8')
    .replace(/\0+$/, '');
  let meta: {
    config?: { keyslots_size?: string };
    keyslots?: Record<string, { area?: { offset?: string; size?: string } }>;
  };
  try {
    meta = JSON.parse(jsonText) as typeof meta;
  } catch {
    return undefined;
  }
  const areas = Object.values(meta.keyslots ?? {}).map((k) => Number(k.area?.offset ?? 0) + Number(k.area?.size ?? 0));
  const total = Math.max(2 * hdrSize + Number(meta.config?.keyslots_size ?? 0), ...areas);
  return Number.isFinite(total) && total <= 256 * 1024 * 1024 ? total : undefined;
}

/**
 * Tests the passphrase on a copy of the LUKS header read from the member partition
 * (RAID1 keeps the array's data whole in each member, from its data offset): changes
 * nothing on the disk, and needs no array.
 */
async function opensMemberHeader(runner: Runner, partition: string, passphrase: string): Promise<boolean> {
  const examine = await runner.query(raidCommands.examine(partition), { allowFailure: true });
  const offset = dataOffsetBytes(examine.stdout);
  if (offset === undefined) return false;
  const fd = openSync(partition, 'r');
  try {
    const read = (at: number, length: number) => {
      const buf = Buffer.alloc(length);
      return buf.subarray(0, readSync(fd, buf, 0, length, offset + at));
    };
    const length = luks2HeaderBytes(read);
    if (length === undefined) return false;
    return await withScratchCopy('header', read(0, length), async (copy) => {
      const r = await runner.query(luksCommands.testPassphrase(copy), { input: passphrase, allowFailure: true });
      return r.exitCode === 0;
    });
  } finally {
    closeSync(fd);
  }
}
