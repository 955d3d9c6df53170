import { existsSync } from 'node:fs';
import type { VaultConfig } from '../../config/config.js';
import { assertPrivateFile } from '../../config/permissions.js';
import { errorMessage } from '../../core/errors.js';
import type { HealthCheck } from '../../stack/layer.js';
import { stackLayers } from '../../stack/stack.js';
import { tokenAgreement } from '../../stack/token.js';
import { targetsOf, viewOf } from '../../config/target-view.js';
import { fstabEntriesFor } from '../../system/fstab-file.js';
import type { Runner } from '../../system/runner.js';
import { collectStatus } from './status.js';
import { unitNames } from '../schedule/schedule.js';
import { kernelChecks, programChecks, rootCheck } from './doctor-host.js';
import { remoteChecks } from './doctor-remote.js';
import { serveChecks } from '../serve/serve-doctor.js';

export type CheckLevel = HealthCheck['level'];

export type Check = HealthCheck;

export interface DoctorReport {
  ok: boolean;
  checks: Check[];
  /** 0 all well, 1 warnings, 2 errors */
  exitCode: number;
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
  checks.push(...(await programChecks(runner, config)));
  checks.push(...(await kernelChecks(runner, config)));
  checks.push(rootCheck());
  if (!config) {
    checks.push({
      area: 'config',
      name: 'config',
      level: 'error',
      detail: errorMessage(configError),
      fix: (configError as { fix?: string })?.fix,
    });
    return finish(checks);
  }
  checks.push(configCheck(config));
  if (config.serve?.root !== undefined) checks.push(...serveChecks(config.serve.root));
  // a backup server's config alone has no disk, no backups and its own timer (checked above)
  if (config.serve && targetsOf(config).length === 0 && (config.remotes ?? []).length === 0) {
    checks.push(serveScheduleCheck(config));
    return finish(checks);
  }
  checks.push(...(await diskChecks(config)));
  checks.push(...(await remoteChecks(runner, config)));
  checks.push(await scheduleCheck(runner, config));
  checks.push(...(await backupsChecks(runner, config)));
  return finish(checks);
}

function configCheck(config: VaultConfig): Check {
  return {
    area: 'config',
    name: 'config',
    level: 'ok',
    detail: `${config.file}: ${config.sources.length} source(s), ${targetsOf(config)
      .map(
        (t) =>
          `${targetsOf(config).length > 1 ? `${t.name} ` : 'target '}${t.mountpoint} (${t.layers.join(' + ') || 'plain btrfs'})`,
      )
      .join(
        ', ',
      )}${config.serve ? `${targetsOf(config).length > 0 ? ', ' : ''}serve root ${config.serve.root ?? '(none)'}` : ''}`,
  };
}

/**
 * Every backup disk's lines on this host: its secrets, what its layers keep (the ARRAY
 * line), its fstab line; with several disks each finding names its disk, and a disk
 * mounted at a disk's place is told by its token.
 */
async function diskChecks(config: VaultConfig): Promise<Check[]> {
  const targets = targetsOf(config);
  const several = targets.length > 1;
  const checks: Check[] = [];
  for (const target of targets) {
    const view = viewOf(config, target);
    const own = [
      ...(await secretChecks(view)),
      ...(
        await Promise.all(stackLayers({ config: view }).map(async (h) => (await h.checks?.(view.target)) ?? []))
      ).flat(),
      ...fstabChecks(view),
    ];
    checks.push(
      ...(several
        ? own.map((c) => ({ ...c, name: `${c.name} ${target.name}`, detail: `${target.name}: ${c.detail}` }))
        : own),
    );
  }
  if (several) checks.push(...tokenAgreement(targets));
  return checks;
}

/** The token's hash and each layer's secrets (a keyfile): root's alone. */
async function secretChecks(config: VaultConfig): Promise<Check[]> {
  const secrets: [string, string][] = [
    [config.target.tokenHashFile, 'token hash'],
    ...stackLayers({ config }).flatMap((h) => h.secrets?.(config.target) ?? []),
  ];
  const checks: Check[] = [];
  for (const [file, what] of secrets) {
    try {
      await assertPrivateFile(file, what);
      checks.push({ area: 'config', name: what, level: 'ok', detail: `${file}: root's, mode 0600` });
    } catch (err) {
      checks.push({
        area: 'config',
        name: what,
        level: 'error',
        detail: errorMessage(err),
        fix: (err as { fix?: string }).fix,
      });
    }
  }
  return checks;
}

/** The backup disk's fstab line, if any, must be noauto; without one (nor a device) it is used only when mounted. */
function fstabChecks(config: VaultConfig): Check[] {
  const [fstab] = fstabEntriesFor(config.target.mountpoint);
  if (fstab) {
    const line = `${fstab.device} ${fstab.mountPoint} ${fstab.fsType} ${fstab.options}`;
    return [
      fstab.options.split(',').includes('noauto')
        ? { area: 'disk', name: 'fstab', level: 'ok', detail: `fstab: ${line}` }
        : {
            area: 'disk',
            name: 'fstab',
            level: 'warn',
            detail: `the fstab line for ${config.target.mountpoint} has no noauto: booting without the backup disk waits for it, then fails`,
            fix: `add noauto to its options: ${line}`,
          },
    ];
  }
  if (!config.target.device && config.target.layers.length === 0) {
    return [
      {
        area: 'disk',
        name: 'fstab',
        level: 'warn',
        detail: `${config.target.mountpoint} has no fstab line and no target.device: btrfs-vault can only use it when it is mounted already`,
        fix: 'set target.device, or add a noauto fstab line',
      },
    ];
  }
  return [];
}

/** A backup server's timer: its hosts checked and its retention applied without a person. */
function serveScheduleCheck(config: VaultConfig): Check {
  const names = unitNames(config.file);
  return existsSync(`/etc/systemd/system/${names.serveTimer}`)
    ? { area: 'schedule', name: 'timer', level: 'ok', detail: `${names.serveTimer} installed` }
    : {
        area: 'schedule',
        name: 'timer',
        level: 'warn',
        detail: "no server timer: nobody is told when a host goes quiet, and the server's retention runs only by hand",
        fix: `btrfs-vault schedule install --config ${config.file}`,
      };
}

/** The timer installed, and how the last scheduled backup ended. */
async function scheduleCheck(runner: Runner, config: VaultConfig): Promise<Check> {
  const names = unitNames(config.file);
  const installed = existsSync(`/etc/systemd/system/${names.timer}`);
  if (!installed)
    return {
      area: 'schedule',
      name: 'timer',
      level: 'warn',
      detail: 'no timer: backups run only when someone runs btrfs-vault backup',
      fix: 'btrfs-vault schedule install',
    };
  const r = await runner.query(['systemctl', ['show', names.service, '--property=Result,ExecMainStatus']], {
    allowFailure: true,
  });
  const result = /Result=(\S+)/.exec(r.stdout)?.[1];
  return r.exitCode !== 0
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
        };
}

/** What status warns of, and the backup disk's free space. */
async function backupsChecks(runner: Runner, config: VaultConfig): Promise<Check[]> {
  const checks: Check[] = [];
  try {
    const status = await collectStatus(runner, config);
    for (const w of status.warnings)
      checks.push({ area: 'backups', name: w.code, level: 'warn', detail: w.message, fix: w.fix });
    if (status.warnings.length === 0)
      checks.push({ area: 'backups', name: 'backups', level: 'ok', detail: 'status: all well' });
    const space = status.target.space;
    if (space && space.free < space.size * 0.05)
      checks.push({
        area: 'backups',
        name: 'free space',
        level: 'warn',
        detail: `only ${Math.round((space.free / space.size) * 100)}% of the backup disk is free`,
        fix: 'btrfs-vault prune, or set [retention]',
      });
  } catch (err) {
    checks.push({
      area: 'backups',
      name: 'status',
      level: 'warn',
      detail: `status could not be read: ${errorMessage(err)}`,
    });
  }
  return checks;
}

function finish(checks: Check[]): DoctorReport {
  const exitCode = checks.some((c) => c.level === 'error') ? 2 : checks.some((c) => c.level === 'warn') ? 1 : 0;
  return { ok: exitCode === 0, checks, exitCode };
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
