// The kernel's log lines of a scrub's errors, for one filesystem. Pure.
// btrfs writes, e.g. (6.x):
//   BTRFS warning (device loop0): scrub: checksum error at logical 13631488 on dev /dev/loop0, physical 13631488 root 257 inode 257 offset 0 length 4096 links 1 (path: sparse)
//   BTRFS error (device dm-3 state EA): scrub: unable to fixup (regular) error at logical 13631488 on dev /dev/mapper/backup-host physical 13631488
// The address is the start of the 64 KiB stripe the scrub read, not the damaged block
// (so the path is that of the stripe's first file), and every filesystem writes into
// the same log: only the lines of this filesystem's device count, and only the stripe.

/** Length of the stripe a scrub reads (BTRFS_STRIPE_LEN): the damaged block is somewhere in it. */
export const STRIPE_BYTES = 64 * 1024;

const LINE = /BTRFS \w+ \(device ([^\s)]+)(?: state \w+)?\): (?:scrub: )?[^:]*?error at logical (\d+) on dev ([^\s,]+)/;

/**
 * The logical addresses of the stripes this filesystem's scrub found damaged.
 * `kernelName`: the device as the kernel names it in "(device …)" (dm-3, loop0, md127);
 * `paths`: the device's paths, any of which "on dev …" may give.
 */
export function damagedStripes(
  lines: readonly string[],
  device: { kernelName: string; paths: readonly string[] },
): number[] {
  const out = new Set<number>();
  for (const line of lines) {
    const m = LINE.exec(line);
    // "fixed up error at logical …": repaired from another copy, nothing is damaged
    if (!m || /fixed up error/.test(line)) continue;
    const [, sid, logical, dev] = m as unknown as [string, string, string, string];
    if (sid !== device.kernelName && !device.paths.includes(dev)) continue;
    out.add(Number(logical));
  }
  return [...out].sort((a, b) => a - b);
}

/** `btrfs inspect-internal logical-resolve -P`: each file block at the address (inode, its offset, its subvolume). */
export function parseLogicalResolve(text: string): { inode: number; offset: number; root: number }[] {
  return [...text.matchAll(/^inode (\d+) offset (\d+) root (\d+)$/gm)].map((m) => ({
    inode: Number(m[1]),
    offset: Number(m[2]),
    root: Number(m[3]),
  }));
}
