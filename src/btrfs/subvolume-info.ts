import { ExitCode, VaultError } from '../core/errors.js';
import { perlOneLine } from '../system/perl-program.js';
import type { Argv, Runner } from '../system/runner.js';
import subvolumeInfoPl from './subvolume-info.pl.js';

// What a run needs to know of one subvolume it just made or is about to trust (its UUID,
// received UUID, read-only flag), read with the kernel's BTRFS_IOC_GET_SUBVOL_INFO: one
// ioctl per subvolume, whatever the filesystem holds. `btrfs subvolume show` prints the
// same and also the subvolume's snapshots, which it finds by walking every subvolume, so
// its cost grows with the history. perl (perl-base, Essential on Debian; the locks use it
// already) makes the call for all paths at once.

export interface SubvolumeInfo {
  path: string;
  id: number;
  uuid: string;
  parentUuid?: string;
  receivedUuid?: string;
  readonly: boolean;
  /** the last transaction that changed it, and the one that created it */
  gen?: number;
  cgen?: number;
}

/** The program's ioctl call, with the generic layout's number (the .pl file). */
const GENERIC_CALL = 'ioctl($h, 0x81f8943c, $b)';
const PROGRAM = perlOneLine(subvolumeInfoPl);

/** For each path, its ID, read-only flag, UUIDs and generations, or why not (the .pl file says how), with this architecture's ioctl number. */
function subvolInfoProgram(ioctl: number): string {
  if (!PROGRAM.includes(GENERIC_CALL))
    throw new VaultError(`subvolume-info.pl has no ${GENERIC_CALL}`, ExitCode.internal);
  return PROGRAM.replace(GENERIC_CALL, `ioctl($h, 0x${ioctl.toString(16)}, $b)`);
}

/**
 * BTRFS_IOC_GET_SUBVOL_INFO, _IOR(0x94, 60, 504 bytes): the read direction and the size
 * are encoded differently on powerpc and mips (3 direction bits, read = 2, from bit 29)
 * than on the generic layout (2 bits, read = 2, from bit 30) of x86, arm, riscv, s390
 * and loongarch. Any other architecture is refused rather than guessed.
 */
const IOCTL: Record<string, number> = {
  ...Object.fromEntries(
    ['x64', 'ia32', 'arm', 'arm64', 'riscv64', 's390', 's390x', 'loong64'].map((a) => [a, 0x81f8943c]),
  ),
  ...Object.fromEntries(['ppc', 'ppc64', 'mips', 'mipsel', 'mips64el'].map((a) => [a, 0x41f8943c])),
};

export function subvolInfoIoctl(arch: string = process.arch): number {
  const n = IOCTL[arch];
  if (n === undefined) {
    throw new VaultError(
      `btrfs-vault does not know the number of the BTRFS_IOC_GET_SUBVOL_INFO ioctl on this architecture (${arch})`,
      ExitCode.internal,
      `report it at https://github.com/btrfs-vault/btrfs-vault/issues with the output of: uname -m (known: ${Object.keys(IOCTL).join(', ')})`,
    );
  }
  return n;
}

export function subvolumeInfoArgv(paths: readonly string[], arch: string = process.arch): Argv {
  return ['perl', ['-e', subvolInfoProgram(subvolInfoIoctl(arch)), '--', ...paths]];
}

export async function subvolumeInfo(runner: Runner, path: string): Promise<SubvolumeInfo> {
  return (await subvolumeInfos(runner, [path]))[0]!;
}

/** One call for all of `paths`; the first that is not a subvolume fails it, named. */
export async function subvolumeInfos(runner: Runner, paths: readonly string[]): Promise<SubvolumeInfo[]> {
  return (await subvolumeInfosOrWhy(runner, paths)).map((r, i) => {
    if (typeof r !== 'string') return r;
    // the run made or listed it as a subvolume a moment ago: something changed it since
    throw new VaultError(
      `${paths[i]} is not the subvolume btrfs-vault expected: ${r}`,
      ExitCode.failed,
      `see what is there now: ls -la ${paths[i]}; btrfs subvolume show ${paths[i]}`,
    );
  });
}

/** The same, each path's answer on its own: why it is not one, for a path that is not. */
export async function subvolumeInfosOrWhy(
  runner: Runner,
  paths: readonly string[],
): Promise<(SubvolumeInfo | string)[]> {
  if (paths.length === 0) return [];
  const { stdout } = await runner.query(subvolumeInfoArgv(paths));
  const lines = stdout.split('\n');
  return paths.map((path, i) => {
    const line = lines[i] ?? '! no answer from the subvolume-info program';
    const m = /^(\d+) ([01]) (\S+) (\S+) (\S+)(?: (\d+) (\d+))?$/.exec(line);
    if (m)
      return {
        path,
        id: Number(m[1]),
        readonly: m[2] === '1',
        uuid: m[3]!,
        parentUuid: orNone(m[4]!),
        receivedUuid: orNone(m[5]!),
        ...(m[6] ? { gen: Number(m[6]), cgen: Number(m[7]) } : {}),
      };
    return line.startsWith('! ') ? line.slice(2) : `unrecognised answer: ${line}`;
  });
}

function orNone(uuid: string): string | undefined {
  return uuid === '-' ? undefined : uuid;
}
