import { realpathSync } from 'node:fs';
import { escapeName } from '../../core/byte-names.js';
import type { MountEntry } from '../../core/mountinfo.js';
import { damagedStripes, parseLogicalResolve, STRIPE_BYTES } from '../../core/scrub-log.js';
import type { Subvolume } from '../../btrfs/subvolumes.js';
import type { Argv, Runner } from '../../system/runner.js';

// Which files a scrub's damage hit. The kernel's line gives only the stripe (see
// core/scrub-log.ts); each block of it is resolved to the files that hold it
// (logical-resolve), and a block is damaged when reading it past the page cache
// (O_DIRECT: btrfs checks its checksum) fails with an I/O error. Where no block of a
// stripe can be shown damaged that way (compressed data, a mirror that repaired it),
// the files of the whole stripe are named as "one of". Reads only.

const BLOCK = 4096;
/** a failing disk can log thousands of stripes: these many are resolved, the rest counted */
const MAX_STRIPES = 16;
/** files named per block: a block shared by every backup is the same file in each */
const MAX_FILES = 50;

export interface ScrubDamage {
  /** files whose damaged block was read back failing (escaped) */
  files: string[];
  /** files of a damaged stripe whose blocks all read back well: one of them is damaged (escaped) */
  oneOf: string[];
  /** stripes the kernel logged, and how many were not resolved (over MAX_STRIPES) */
  stripes: number;
  unresolved: number;
}

const commands = {
  resolve: (logical: number, mp: string): Argv => [
    'btrfs',
    ['inspect-internal', 'logical-resolve', '-P', '--', String(logical), mp],
  ],
  inodePaths: (inode: number, subvolume: string): Argv => [
    'btrfs',
    ['inspect-internal', 'inode-resolve', '--', String(inode), subvolume],
  ],
  /** one block past the page cache: the checksum is checked on the way */
  readBlock: (file: string, offset: number): Argv => [
    'dd',
    [`if=${file}`, 'of=/dev/null', 'iflag=direct', `bs=${BLOCK}`, `skip=${offset / BLOCK}`, 'count=1', 'status=none'],
  ],
};

/** `log`: the kernel's lines since the scrub started; `listing`: the filesystem's subvolumes (id → path). */
export async function scrubDamage(
  runner: Runner,
  mount: MountEntry,
  log: readonly string[],
  listing: readonly Subvolume[],
): Promise<ScrubDamage> {
  const stripes = damagedStripes(log, { kernelName: kernelName(mount.source), paths: [mount.source] });
  const files = new Set<string>();
  const oneOf = new Set<string>();
  const paths = new Map<string, string[]>();
  const pathsOf = async (root: number, inode: number): Promise<string[]> => {
    const key = `${root}/${inode}`;
    if (!paths.has(key)) {
      const sub = root === 5 && mount.root === '/' ? mount.mountPoint : listing.find((s) => s.id === root)?.path;
      const out =
        sub === undefined
          ? undefined
          : await runner.query(commands.inodePaths(inode, sub), { allowFailure: true, bytes: true });
      paths.set(key, out && out.exitCode === 0 ? pathLines(out.stdout, sub!) : []);
    }
    return paths.get(key)!;
  };
  for (const stripe of stripes.slice(0, MAX_STRIPES)) {
    const suspects: string[] = [];
    let found = false;
    for (let logical = stripe; logical < stripe + STRIPE_BYTES; logical += BLOCK) {
      const refs = parseLogicalResolve(
        (await runner.query(commands.resolve(logical, mount.mountPoint), { allowFailure: true })).stdout,
      );
      if (refs.length === 0) continue;
      const named: string[] = [];
      for (const ref of refs) {
        if (named.length >= MAX_FILES) break;
        named.push(...(await pathsOf(ref.root, ref.inode)));
      }
      // every ref is the same block on disk: one read tells for all
      const first = refs.find((r) => (paths.get(`${r.root}/${r.inode}`) ?? []).length > 0);
      const read =
        first &&
        (await runner.query(commands.readBlock(paths.get(`${first.root}/${first.inode}`)![0]!, first.offset), {
          allowFailure: true,
        }));
      if (read && read.exitCode !== 0 && /Input\/output error/.test(read.stderr)) {
        found = true;
        for (const f of named) files.add(f);
      } else suspects.push(...named);
    }
    if (!found) for (const f of suspects) oneOf.add(f);
  }
  const shown = (set: Set<string>) => [...set].slice(0, MAX_FILES).map(escapeName);
  return {
    files: shown(files),
    oneOf: shown(oneOf),
    stripes: stripes.length,
    unresolved: Math.max(0, stripes.length - MAX_STRIPES),
  };
}

/** inode-resolve's paths, one a line, each under `sub`: a line that is not continues the name before it (a newline in a name) */
function pathLines(text: string, sub: string): string[] {
  const out: string[] = [];
  for (const line of text.replace(/\n$/, '').split('\n')) {
    if (line.startsWith(`${sub}/`) || out.length === 0) out.push(line);
    else out[out.length - 1] += `\n${line}`;
  }
  return out.filter(Boolean);
}

/** The name the kernel gives the device in its log lines: /dev/mapper/vg-lv is "dm-3". */
function kernelName(device: string): string {
  try {
    return realpathSync(device).split('/').at(-1)!;
  } catch {
    return device.split('/').at(-1)!;
  }
}
