import { existsSync, readFileSync } from 'node:fs';
import { compressedSendSupported } from '../../btrfs/send-features.js';
import type { VaultConfig } from '../../config/config.js';
import { errorMessage } from '../../core/errors.js';
import type { HealthCheck, KernelModule } from '../../stack/layer.js';
import { allLayerHandlers } from '../../stack/layers.js';
import { partitionLayer } from '../../stack/partition.js';
import { createLayers, stackLayers } from '../../stack/stack.js';
import type { Argv, Runner } from '../../system/runner.js';

// doctor's checks of this machine: the programs, the kernel, root.

interface Program {
  name: string;
  argv: Argv;
  pkg: string;
  /** needed by setup and add-mirror only */
  setup?: boolean;
  /** needed by verify only */
  verify?: boolean;
}

const PROGRAMS: Program[] = [
  { name: 'btrfs', argv: ['btrfs', ['--version']], pkg: 'btrfs-progs' },
  { name: 'setpriv', argv: ['setpriv', ['--version']], pkg: 'util-linux' },
  { name: 'perl', argv: ['perl', ['-e', 'print $^V']], pkg: 'perl-base' },
  { name: 'fuser', argv: ['fuser', ['--version']], pkg: 'psmisc' },
  { name: 'rsync', argv: ['rsync', ['--version']], pkg: 'rsync', verify: true },
];

/** What the layers need, from their handlers: of the configured layers (all of them without a config). */
function layerPrograms(config: VaultConfig | undefined): Program[] {
  const handlers = config ? createLayers({ config }) : [partitionLayer, ...allLayerHandlers()];
  return handlers
    .flatMap((h) => h.requires ?? [])
    .map((r) => ({ name: r.program, argv: r.argv, pkg: r.pkg, setup: r.use === 'setup' }));
}

/** Each program btrfs-vault and the configured layers run: installed, and its version. */
export async function programChecks(runner: Runner, config: VaultConfig | undefined): Promise<HealthCheck[]> {
  const checks: HealthCheck[] = [];
  for (const p of [...PROGRAMS, ...layerPrograms(config)]) {
    const r = await runner
      .query(p.argv, { allowFailure: true })
      .catch((err: unknown) => ({ exitCode: -1, stdout: '', stderr: errorMessage(err) }));
    const text = `${r.stdout}\n${r.stderr}`;
    const version = /(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
    if (r.exitCode !== 0 && !version) {
      const only = p.verify ? ' (verify needs it)' : p.setup ? ' (setup and add-mirror need it)' : '';
      checks.push({
        area: 'programs',
        name: p.name,
        level: only ? 'warn' : 'error',
        detail: `${p.name} is not installed${only}`,
        fix: `apt-get install ${p.pkg}`,
      });
    } else
      checks.push({
        area: 'programs',
        name: p.name,
        level: 'ok',
        detail: `${p.name} ${version ?? '(version unknown)'}`,
      });
  }
  return checks;
}

/** btrfs in the kernel, whether send can keep data compressed, and the configured layers' modules. */
export async function kernelChecks(runner: Runner, config: VaultConfig | undefined): Promise<HealthCheck[]> {
  const checks: HealthCheck[] = [];
  const filesystems = readOr('/proc/filesystems');
  checks.push(
    /\bbtrfs\b/.test(filesystems)
      ? { area: 'kernel', name: 'btrfs', level: 'ok', detail: 'btrfs is available' }
      : {
          area: 'kernel',
          name: 'btrfs',
          level: 'error',
          detail: 'this kernel has no btrfs loaded',
          fix: 'modprobe btrfs',
        },
  );
  const compressed = await compressedSendSupported(runner);
  checks.push({
    area: 'kernel',
    name: 'send protocol',
    level: 'ok',
    detail: compressed
      ? 'send protocol 2: to a compressed backup filesystem, compressed data travels as it is (--compressed-data)'
      : 'no compressed send (a kernel from 6.0 on and btrfs-progs from 5.19 on have it): compressed data is sent uncompressed and compressed again on the disk',
  });
  for (const m of config ? stackLayers({ config }).flatMap((h) => h.modules ?? []) : []) checks.push(moduleCheck(m));
  return checks;
}

export function rootCheck(): HealthCheck {
  return process.geteuid?.() === 0
    ? { area: 'system', name: 'root', level: 'ok', detail: 'running as root' }
    : {
        area: 'system',
        name: 'root',
        level: 'error',
        detail: 'not running as root: snapshots, mounts and the disk stack need root',
        fix: 'run it with sudo',
      };
}

function moduleCheck({ module, what }: KernelModule): HealthCheck {
  const loaded = existsSync(`/sys/module/${module}`);
  return loaded
    ? { area: 'kernel', name: what, level: 'ok', detail: `${what} is loaded` }
    : {
        area: 'kernel',
        name: what,
        level: 'warn',
        detail: `${what} is not loaded now (it loads when the disk is opened)`,
        fix: `modprobe ${module}`,
      };
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
