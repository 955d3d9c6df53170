import { existsSync, readFileSync } from 'node:fs';
import type { VaultConfig } from '../../config/config.js';
import { assertPrivateFile } from '../../config/permissions.js';
import { errorMessage } from '../../core/errors.js';
import type { HealthCheck, KernelModule } from '../../stack/layer.js';
import { allLayerHandlers } from '../../stack/layers.js';
import { partitionLayer } from '../../stack/partition.js';
import { createLayers, stackLayers } from '../../stack/stack.js';
import { fstabEntriesFor } from '../../system/fstab-file.js';
import type { Argv, Runner } from '../../system/runner.js';
import { collectStatus } from './status.js';
import { unitNames } from '../schedule/schedule.js';
import { compressedSendSupported } from '../../btrfs/send-features.js';

export type CheckLevel = HealthCheck['level'];

export type Check = HealthCheck;

export interface DoctorReport {
  ok: boolean;
  checks: Check[];
  /** 0 all well, 1 warnings, 2 errors */
  exitCode: number;
}

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

/**
 * doctor: what btrfs-vault needs, checked and explained, each with its fix. Reads only.
 * `config` is undefined when it could not be loaded (that is one of the errors).
 */
export async function runDoctor(
  runner: Runner,
  config: VaultConfig | undefined,
  configError?: unknown,
): Promise<DoctorReport> {
  const checks: Check[] = [];
  const add = (c: Check) => checks.push(c);
  for (const p of [...PROGRAMS, ...layerPrograms(config)]) {
    const r = await runner
      .query(p.argv, { allowFailure: true })
      .catch((err: unknown) => ({ exitCode: -1, stdout: '', stderr: errorMessage(err) }));
    const text = `${r.stdout}\n${r.stderr}`;
    const version = /(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
    if (r.exitCode !== 0 && !version) {
      const only = p.verify ? ' (verify needs it)' : p.setup ? ' (setup and add-mirror need it)' : '';
      add({
        area: 'programs',
        name: p.name,
        level: only ? 'warn' : 'error',
        detail: `${p.name} is not installed${only}`,
        fix: `apt-get install ${p.pkg}`,
      });
    } else add({ area: 'programs', name: p.name, level: 'ok', detail: `${p.name} ${version ?? '(version unknown)'}` });
  }

  const filesystems = readOr('/proc/filesystems');
  add(
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
  add({
    area: 'kernel',
    name: 'send protocol',
    level: 'ok',
    detail: compressed
      ? 'send protocol 2: to a compressed backup filesystem, compressed data travels as it is (--compressed-data)'
      : 'no compressed send (a kernel from 6.0 on and btrfs-progs from 5.19 on have it): compressed data is sent uncompressed and compressed again on the disk',
  });
  for (const m of config ? stackLayers({ config }).flatMap((h) => h.modules ?? []) : []) add(moduleCheck(m));

  add(
    process.geteuid?.() === 0
      ? { area: 'system', name: 'root', level: 'ok', detail: 'running as root' }
      : {
          area: 'system',
          name: 'root',
          level: 'error',
          detail: 'not running as root: snapshots, mounts and the disk stack need root',
          fix: 'run it with sudo',
        },
  );

  if (!config) {
    add({
      area: 'config',
      name: 'config',
      level: 'error',
      detail: errorMessage(configError),
      fix: (configError as { fix?: string })?.fix,
    });
    return finish(checks);
  }
  add({
    area: 'config',
    name: 'config',
    level: 'ok',
    detail: `${config.file}: ${config.sources.length} source(s), target ${config.target.mountpoint} (${config.target.layers.join(' + ') || 'plain btrfs'})`,
  });
  const secrets: [string, string][] = [
    [config.target.tokenHashFile, 'token hash'],
    ...stackLayers({ config }).flatMap((h) => h.secrets?.(config.target) ?? []),
  ];
  for (const [file, what] of secrets) {
    try {
      await assertPrivateFile(file, what);
      add({ area: 'config', name: what, level: 'ok', detail: `${file}: root's, mode 0600` });
    } catch (err) {
      add({
        area: 'config',
        name: what,
        level: 'error',
        detail: errorMessage(err),
        fix: (err as { fix?: string }).fix,
      });
    }
  }

  for (const h of stackLayers({ config })) for (const c of (await h.checks?.(config.target)) ?? []) add(c);
  const [fstab] = fstabEntriesFor(config.target.mountpoint);
  if (fstab) {
    const line = `${fstab.device} ${fstab.mountPoint} ${fstab.fsType} ${fstab.options}`;
    add(
      fstab.options.split(',').includes('noauto')
        ? { area: 'disk', name: 'fstab', level: 'ok', detail: `fstab: ${line}` }
        : {
            area: 'disk',
            name: 'fstab',
            level: 'warn',
            detail: `the fstab line for ${config.target.mountpoint} has no noauto: booting without the backup disk waits for it, then fails`,
            fix: `add noauto to its options: ${line}`,
          },
    );
  } else if (!config.target.device && config.target.layers.length === 0) {
    add({
      area: 'disk',
      name: 'fstab',
      level: 'warn',
      detail: `${config.target.mountpoint} has no fstab line and no target.device: btrfs-vault can only use it when it is mounted already`,
      fix: 'set target.device, or add a noauto fstab line',
    });
  }

  const names = unitNames(config.file);
  const installed = existsSync(`/etc/systemd/system/${names.timer}`);
  if (!installed)
    add({
      area: 'schedule',
      name: 'timer',
      level: 'warn',
      detail: 'no timer: backups run only when someone runs btrfs-vault backup',
      fix: 'btrfs-vault schedule install',
    });
  else {
    const r = await runner.query(['systemctl', ['show', names.service, '--property=Result,ExecMainStatus']], {
      allowFailure: true,
    });
    const result = /Result=(\S+)/.exec(r.stdout)?.[1];
    add(
      r.exitCode !== 0
        ? {
            area: 'schedule',
            name: 'timer',
            level: 'warn',
            detail: `${names.timer} is installed, but systemd does not answer: ${r.stderr.trim()}`,
          }
        : result === 'success' || result === undefined
          ? {
              area: 'schedule',
              name: 'timer',
              level: 'ok',
              detail: `${names.timer} installed; last result ${result ?? 'none yet'}`,
            }
          : {
              area: 'schedule',
              name: 'timer',
              level: 'warn',
              detail: `the last scheduled backup ended with ${result}`,
              fix: `journalctl -u ${names.service}`,
            },
    );
  }

  try {
    const status = await collectStatus(runner, config);
    for (const w of status.warnings)
      add({ area: 'backups', name: w.code, level: 'warn', detail: w.message, fix: w.fix });
    if (status.warnings.length === 0)
      add({ area: 'backups', name: 'backups', level: 'ok', detail: 'status: all well' });
    const space = status.target.space;
    if (space && space.free < space.size * 0.05)
      add({
        area: 'backups',
        name: 'free space',
        level: 'warn',
        detail: `only ${Math.round((space.free / space.size) * 100)}% of the backup disk is free`,
        fix: 'btrfs-vault prune, or set [retention]',
      });
  } catch (err) {
    add({ area: 'backups', name: 'status', level: 'warn', detail: `status could not be read: ${errorMessage(err)}` });
  }
  return finish(checks);
}

function moduleCheck({ module, what }: KernelModule): Check {
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

function finish(checks: Check[]): DoctorReport {
  const exitCode = checks.some((c) => c.level === 'error') ? 2 : checks.some((c) => c.level === 'warn') ? 1 : 0;
  return { ok: exitCode === 0, checks, exitCode };
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function doctorLines(r: DoctorReport): string[] {
  const mark = { ok: '✔', warn: '!', error: '✖' };
  const lines = r.checks.map(
    (c) => `${mark[c.level]} ${c.area.padEnd(9)} ${c.detail}${c.fix ? `\n             fix: ${c.fix}` : ''}`,
  );
  lines.push(
    '',
    r.exitCode === 0
      ? 'all well'
      : r.exitCode === 1
        ? 'warnings: see the lines marked !'
        : 'errors: see the lines marked ✖',
  );
  return lines;
}
