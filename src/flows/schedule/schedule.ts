import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CONFIG, TARGET_NAME, TARGET_NAME_RULE } from '../../config/defaults.js';
import type { TargetConfig } from '../../config/config.js';
import { UserError } from '../../core/errors.js';
import { refuseControl, udevMatchValue, unitCommandLine, unitText } from '../../core/unit-escape.js';
import type { UdevMatch } from '../../stack/layer.js';
import { bottomLayer } from '../../stack/stack.js';

export { blkidUuid } from '../../stack/raid.js';
import type { Argv, Runner } from '../../system/runner.js';

// The systemd units and the udev rule that make backups happen without a person:
// a timer (missed runs happen at boot), and a run when the backup disk is plugged in.

export interface UnitNames {
  service: string;
  timer: string;
  /** a backup server's: prune and status --check of its serve root */
  serveService: string;
  serveTimer: string;
  plugService: string;
  rule: string;
}

/**
 * One set of units per config; the default config's are plainly named. With several
 * backup disks, each disk (`target`) has a plug service and a rule of its own, named
 * `<base>-plug-<target>`: a target's name is safe in a unit's and a file's name, and no
 * other config's base (`btrfs-vault-<8 hex digits>`) starts with `<base>-plug-`.
 */
export function unitNames(configFile: string, target?: string): UnitNames {
  const base = unitBase(configFile);
  return {
    service: `${base}.service`,
    timer: `${base}.timer`,
    serveService: `${base}-serve.service`,
    serveTimer: `${base}-serve.timer`,
    plugService: target === undefined ? `${base}-plug.service` : `${base}-plug-${target}.service`,
    rule: target === undefined ? `90-${base}.rules` : `90-${base}-plug-${target}.rules`,
  };
}

function unitBase(configFile: string): string {
  return configFile === DEFAULT_CONFIG
    ? 'btrfs-vault'
    : `btrfs-vault-${createHash('sha256').update(configFile).digest('hex').slice(0, 8)}`;
}

/**
 * The on-plug rule of one backup disk: what tells it to udev, and with several disks
 * its name (the run it starts is for that disk alone); undefined: the config's one disk.
 */
export interface PlugRule {
  target?: string;
  match: UdevMatch;
}

export interface UnitFile {
  path: string;
  text: string;
}

export interface ScheduleSpec {
  configFile: string;
  /** OnCalendar= of the timer: hourly, daily or any calendar expression */
  every: string;
  /** per backup disk, the udev property that tells it (its array member UUID or filesystem UUID); none: no on-plug runs */
  plugs?: readonly PlugRule[];
  /** disks of the config udev cannot be told about now (away): their rules, written before, stay */
  away?: readonly string[];
  /** the command that runs btrfs-vault: node and the installed bin file */
  program: string[];
  /** where /etc is (a root for staging, as systemctl --root) */
  root: string;
  /** the backup units (false: a server's config, [serve] and no target) */
  backup?: boolean;
  /** on a backup server ([serve] root): its units prune it and check its hosts */
  serveRoot?: string;
}

/** The files, as they will be written: shown before they are. Every value from outside is escaped for its format or refused. */
export function scheduleFiles(spec: ScheduleSpec): UnitFile[] {
  const n = unitNames(spec.configFile);
  const dir = join(spec.root, 'etc/systemd/system');
  refuseControl(
    'the config path',
    spec.configFile,
    'move the config to a path without control characters (newline, tab) and pass that with --config',
  );
  refuseControl('--every', spec.every, 'use hourly, daily, or e.g. "*-*-* 02:30" (see: man systemd.time)');
  // no calendar expression has a %; whether OnCalendar= expands specifiers differs between systemd versions
  if (spec.every.includes('%'))
    throw new UserError(
      `--every ${spec.every} holds a %, which no calendar expression has`,
      'use hourly, daily, or e.g. "*-*-* 02:30" (see: man systemd.time)',
    );
  for (const w of spec.program)
    refuseControl('the program path', w, 'install btrfs-vault (and node) under a path without control characters');
  const run = (args: string[]) => unitCommandLine([...spec.program, ...args, '--config', spec.configFile]);
  const config = unitText(spec.configFile);
  const gentle = ['Nice=19', 'IOSchedulingClass=idle', 'CPUSchedulingPolicy=batch'];
  const backupFiles: UnitFile[] = [
    {
      path: join(dir, n.service),
      text: [
        '[Unit]',
        `Description=btrfs-vault backup (${config})`,
        'Documentation=https://github.com/btrfs-vault/btrfs-vault#readme',
        'After=local-fs.target',
        '',
        '[Service]',
        'Type=oneshot',
        // an absent disk is a soft skip (exit 0); stale backups are reported by the same run
        `ExecStart=${run(['backup', '--scheduled'])}`,
        ...gentle,
        'TimeoutStartSec=12h',
        '',
      ].join('\n'),
    },
    {
      path: join(dir, n.timer),
      text: [
        '[Unit]',
        `Description=btrfs-vault backup, ${unitText(spec.every)} (${config})`,
        '',
        '[Timer]',
        `OnCalendar=${spec.every}`,
        'Persistent=true',
        'RandomizedDelaySec=5min',
        '',
        '[Install]',
        'WantedBy=timers.target',
        '',
      ].join('\n'),
    },
  ];
  const files = spec.backup === false ? [] : backupFiles;
  for (const plug of spec.plugs ?? []) files.push(...plugFiles(spec, plug, run, gentle));
  if (spec.serveRoot !== undefined) files.push(...serveFiles(spec, run, gentle));
  return files;
}

/** A backup server's units: its hosts checked (a dead host cannot say it went quiet), then its retention. */
function serveFiles(spec: ScheduleSpec, run: (args: string[]) => string, gentle: string[]): UnitFile[] {
  const n = unitNames(spec.configFile);
  const dir = join(spec.root, 'etc/systemd/system');
  const root = spec.serveRoot!;
  refuseControl('[serve] root', root, 'name a serve root without control characters (newline, tab)');
  const config = unitText(spec.configFile);
  return [
    {
      path: join(dir, n.serveService),
      text: [
        '[Unit]',
        `Description=btrfs-vault server: status and prune of ${unitText(root)} (${config})`,
        'Documentation=https://github.com/btrfs-vault/btrfs-vault#readme',
        'After=local-fs.target',
        '',
        '[Service]',
        'Type=oneshot',
        // a quiet host is told by [notify] and exits 1: prune runs all the same
        `ExecStart=-${run(['status', '--check', '--serve-root', root])}`,
        `ExecStart=${run(['prune', '--serve-root', root])}`,
        ...gentle,
        'TimeoutStartSec=12h',
        '',
      ].join('\n'),
    },
    {
      path: join(dir, n.serveTimer),
      text: [
        '[Unit]',
        `Description=btrfs-vault server, ${unitText(spec.every)} (${config})`,
        '',
        '[Timer]',
        `OnCalendar=${spec.every}`,
        'Persistent=true',
        'RandomizedDelaySec=5min',
        '',
        '[Install]',
        'WantedBy=timers.target',
        '',
      ].join('\n'),
    },
  ];
}

/** One backup disk's plug service and udev rule: a run for that disk alone when it appears. */
function plugFiles(spec: ScheduleSpec, plug: PlugRule, run: (args: string[]) => string, gentle: string[]): UnitFile[] {
  const n = unitNames(spec.configFile, plug.target);
  const config = unitText(spec.configFile);
  // a target's name is checked by the config's loader; this is a second look before a root rule holds it
  if (plug.target !== undefined && !TARGET_NAME.test(plug.target))
    throw new UserError(
      `the target name ${JSON.stringify(plug.target)} cannot name a unit`,
      `name it with ${TARGET_NAME_RULE}`,
    );
  const disk = plug.target === undefined ? 'the backup disk' : `the backup disk ${plug.target}`;
  return [
    {
      path: join(spec.root, 'etc/systemd/system', n.plugService),
      text: [
        '[Unit]',
        `Description=btrfs-vault backup when ${disk} is plugged in (${config})`,
        'After=local-fs.target',
        '',
        '[Service]',
        'Type=oneshot',
        // both mirrors appear within seconds: one start, after they are all there
        'ExecStartPre=/bin/sleep 15',
        `ExecStart=${run(['backup', '--on-plug', ...(plug.target === undefined ? [] : ['--target', plug.target])])}`,
        ...gentle,
        'TimeoutStartSec=12h',
        '',
      ].join('\n'),
    },
    {
      path: join(spec.root, 'etc/udev/rules.d', n.rule),
      text: [
        // a comment ends at the line's end only: control characters were refused above
        `# btrfs-vault: back up when ${disk} (${spec.configFile}) appears.`,
        '# SYSTEMD_WANTS, not RUN: udev kills what RUN starts after a few seconds.',
        `ACTION=="add", SUBSYSTEM=="block", ENV{${plug.match.key}}=="${udevMatchValue(`${disk}'s UUID`, plug.match.value)}", TAG+="systemd", ENV{SYSTEMD_WANTS}+="${n.plugService}"`,
        '',
      ].join('\n'),
    },
  ];
}

/** hourly, daily, or an OnCalendar expression systemd accepts (checked with systemd-analyze). */
export async function checkCalendar(runner: Runner, every: string): Promise<void> {
  const r = await runner.query(['systemd-analyze', ['calendar', '--', every]], { allowFailure: true });
  if (r.exitCode !== 0)
    throw new UserError(
      `--every ${every} is not a calendar expression systemd understands: ${r.stderr.trim()}`,
      'use hourly, daily, or e.g. "*-*-* 02:30" (see: man systemd.time)',
    );
}

export async function install(runner: Runner, spec: ScheduleSpec): Promise<{ written: UnitFile[]; removed: string[] }> {
  const files = scheduleFiles(spec);
  const written = new Set(files.map((f) => f.path));
  // the folders as mkdir -p makes them (0777 less the umask), as systemd's own are
  for (const f of files)
    runner.change({ op: 'write', path: f.path, text: f.text, mode: 0o644, durable: true, folder: 0o777 });
  const n = unitNames(spec.configFile);
  // installed again without --on-plug (or for fewer disks): the earlier rules and plug services are no longer asked for
  const kept = new Set(
    (spec.away ?? []).flatMap((t) => {
      const k = unitNames(spec.configFile, t);
      return [join(spec.root, 'etc/systemd/system', k.plugService), join(spec.root, 'etc/udev/rules.d', k.rule)];
    }),
  );
  const removed = plugLeftovers(spec.root, spec.configFile).filter((p) => !written.has(p) && !kept.has(p));
  for (const p of removed) runner.change({ op: 'remove', path: p });
  const plug = (spec.plugs ?? []).length > 0;
  const timers = [...(spec.backup === false ? [] : [n.timer]), ...(spec.serveRoot === undefined ? [] : [n.serveTimer])];
  for (const argv of activate(spec.root, timers, plug || removed.length > 0)) await runner.run(argv);
  return { written: files, removed };
}

/**
 * This config's files, each with the header scheduleFiles writes: a file of the name
 * without it is not ours. The plug services and rules of its disks, by their names'
 * prefix (one per disk, for the disks configured when they were written).
 */
function ourFiles(root: string, configFile: string): { path: string; header: RegExp; plug: boolean }[] {
  const n = unitNames(configFile);
  const units = join(root, 'etc/systemd/system');
  const rules = join(root, 'etc/udev/rules.d');
  const perDisk = (dir: string, prefix: string, suffix: string) =>
    listNames(dir)
      .filter(
        (f) => f.startsWith(prefix) && f.endsWith(suffix) && TARGET_NAME.test(f.slice(prefix.length, -suffix.length)),
      )
      .map((f) => join(dir, f));
  const base = unitBase(configFile);
  return [
    ...perDisk(units, `${base}-plug-`, '.service').map((path) => ({ path, header: PLUG_SERVICE_HEADER, plug: true })),
    ...perDisk(rules, `90-${base}-plug-`, '.rules').map((path) => ({ path, header: RULE_HEADER, plug: true })),
    { path: join(units, n.service), header: /^\[Unit\]\nDescription=btrfs-vault backup \(/, plug: false },
    { path: join(units, n.timer), header: /^\[Unit\]\nDescription=btrfs-vault backup, /, plug: false },
    { path: join(units, n.serveService), header: /^\[Unit\]\nDescription=btrfs-vault server: /, plug: false },
    { path: join(units, n.serveTimer), header: /^\[Unit\]\nDescription=btrfs-vault server, /, plug: false },
    { path: join(units, n.plugService), header: PLUG_SERVICE_HEADER, plug: true },
    { path: join(rules, n.rule), header: RULE_HEADER, plug: true },
  ];
}

const PLUG_SERVICE_HEADER = /^\[Unit\]\nDescription=btrfs-vault backup when the backup disk (\S+ )?is plugged in /;
const RULE_HEADER = /^# btrfs-vault: back up when the backup disk /;

function listNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** A regular file (not a link) that starts with our header. */
function isOurs(f: { path: string; header: RegExp }): boolean {
  try {
    return lstatSync(f.path).isFile() && f.header.test(readFileSync(f.path, 'utf8'));
  } catch {
    return false;
  }
}

/** The on-plug rules and services of this config, only where they carry the header we write. */
export function plugLeftovers(root: string, configFile: string): string[] {
  return ourFiles(root, configFile)
    .filter((f) => f.plug && isOurs(f))
    .map((f) => f.path);
}

/** Takes away this config's units and rule: only files that carry our header; others of the name are left and named. */
export async function remove(
  runner: Runner,
  configFile: string,
  root: string,
): Promise<{ removed: string[]; notOurs: string[] }> {
  const n = unitNames(configFile);
  const files = ourFiles(root, configFile).filter((f) => lstatOrUndefined(f.path));
  const there = files.filter(isOurs).map((f) => f.path);
  const notOurs = files.map((f) => f.path).filter((p) => !there.includes(p));
  if (there.length === 0) return { removed: [], notOurs };
  const timers = [n.timer, n.serveTimer].filter((t) => there.includes(join(root, 'etc/systemd/system', t)));
  if (timers.length > 0)
    await runner.run(
      root === '/'
        ? ['systemctl', ['disable', '--now', ...timers]]
        : ['systemctl', [`--root=${root}`, 'disable', ...timers]],
      { allowFailure: true },
    );
  for (const p of there) runner.change({ op: 'remove', path: p });
  if (root === '/') {
    await runner.run(['systemctl', ['daemon-reload']], { allowFailure: true });
    await runner.run(['udevadm', ['control', '--reload']], { allowFailure: true });
  }
  return { removed: there, notOurs };
}

function lstatOrUndefined(path: string) {
  return lstatSync(path, { throwIfNoEntry: false });
}

/** Enable the timer; on the running system also start it and reload systemd and udev. */
function activate(root: string, timers: string[], plug: boolean): Argv[] {
  if (root !== '/') return [['systemctl', [`--root=${root}`, 'enable', ...timers]]];
  return [
    ['systemctl', ['daemon-reload']],
    ['systemctl', ['enable', '--now', ...timers]],
    ...(plug ? [['udevadm', ['control', '--reload']] as Argv] : []),
  ];
}

export interface ScheduleStatus {
  /** serve: a backup server's timer (status and prune of its serve root) */
  installed: { timer: boolean; onPlug: boolean; serve: boolean };
  nextRun?: string;
  lastRun?: string;
  lastResult?: string;
  systemd: boolean;
}

export async function scheduleStatus(runner: Runner, configFile: string): Promise<ScheduleStatus> {
  const n = unitNames(configFile);
  const installed = {
    timer: existsSync(`/etc/systemd/system/${n.timer}`),
    onPlug: plugLeftovers('/', configFile).length > 0,
    serve: existsSync(`/etc/systemd/system/${n.serveTimer}`),
  };
  // a server's config alone: its timer is the one to ask
  const serverOnly = installed.serve && !installed.timer;
  const timer = await runner.query(
    ['systemctl', ['show', serverOnly ? n.serveTimer : n.timer, '--property=NextElapseUSecRealtime,LastTriggerUSec']],
    { allowFailure: true },
  );
  const service = await runner.query(
    ['systemctl', ['show', serverOnly ? n.serveService : n.service, '--property=Result']],
    { allowFailure: true },
  );
  const prop = (text: string, key: string) => new RegExp(`^${key}=(.+)$`, 'm').exec(text)?.[1];
  return {
    installed,
    systemd: timer.exitCode === 0,
    nextRun: prop(timer.stdout, 'NextElapseUSecRealtime'),
    lastRun: prop(timer.stdout, 'LastTriggerUSec'),
    lastResult: prop(service.stdout, 'Result'),
  };
}

/** The command a unit runs: this very node and this installation's bin file. */
export function thisProgram(): string[] {
  return [process.execPath, realpathSync(process.argv[1]!)];
}

/**
 * What tells the backup disk to udev, exactly: the UUID blkid reads at the bottom of its
 * stack (ID_FS_UUID), as the bottom layer's handler says. (A partition-label pattern
 * such as backup* would also start runs for a user's own "backup-photos" partition.)
 */
export async function plugMatch(
  runner: Runner,
  target: Pick<TargetConfig, 'layers' | 'array' | 'partition' | 'mountpoint'>,
): Promise<UdevMatch | undefined> {
  return bottomLayer(target).udevMatch?.(runner, target);
}
