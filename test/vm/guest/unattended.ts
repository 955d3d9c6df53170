import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unitNames } from '../../../src/flows/schedule/schedule.js';
import { stackWithConfig } from './create-stack.js';
import { cli } from '../../support/cli.js';
import { sh } from '../../support/sh.js';
import { waitForGone } from '../../support/wait.js';
import { assertInVm, OUT, plugDisk, runScenarios, unplugDisk, vmDisk } from './support.js';

// Unattended operation with systemd as PID 1 (harness init 'systemd'): the timer that
// `schedule install` writes fires and backs up; plugging the backup disk in starts a
// backup through the udev rule and ends with the disk closed, both mirrors appearing
// start one run; a disk pulled out while idle leaves nothing behind.

assertInVm();
const ETC = join(OUT, 'etc-unattended');
const MP = '/media/backup';
const SRC = '/srv/src';
const ARRAY = '/dev/md/backup';
const MIRRORS = ['bv-a', 'bv-b'];

const units = () => unitNames(join(ETC, 'config.toml'));

function show(unit: string): Record<string, string> {
  const text = sh('systemctl', [
    'show',
    unit,
    '--property=ActiveState,Result,ExecMainStatus,ExecMainExitTimestampMonotonic,NRestarts',
  ]);
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** Waits until the oneshot unit has ended a run other than the one that ended at `since` (its exit timestamp). */
async function waitForRun(unit: string, since: string, ms: number): Promise<Record<string, string>> {
  const end = Date.now() + ms;
  for (;;) {
    const s = show(unit);
    if (
      s.ExecMainExitTimestampMonotonic !== since &&
      s.ExecMainExitTimestampMonotonic !== '0' &&
      ['inactive', 'failed'].includes(s.ActiveState!)
    )
      return s;
    if (Date.now() > end)
      throw new Error(`${unit} did not run within ${ms} ms: ${JSON.stringify(s)}\n${journal(unit)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function journal(unit: string): string {
  return sh('journalctl', ['--no-pager', '-o', 'cat', '-u', unit]);
}

/** How many times systemd has started the unit so far, by its journal. */
const starts = (unit: string) => (journal(unit).match(/Starting btrfs-vault-\S+-plug\.service/g) ?? []).length;

function deviceUnitState(dev: string): string {
  const unit = sh('systemd-escape', ['--path', '--suffix=device', dev]).trim();
  return /^ActiveState=(\S+)$/m.exec(sh('systemctl', ['show', unit, '--property=ActiveState']))?.[1] ?? '?';
}

/**
 * Waits until plugging or pulling the devices has been handled to the end: udev's queue
 * is empty, systemd has the devices' units in the state the event leads to (it queues
 * what SYSTEMD_WANTS asks for as it does so), and no job of btrfs-vault's units is
 * queued (the test's own job, bv-guest.service, always is). A start the event causes
 * has then been logged (or is running): a check after this cannot pass by looking too
 * early.
 */
async function deviceEventsHandled(
  devices: readonly string[],
  state: 'active' | 'inactive',
  ms = 60_000,
): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    sh('udevadm', ['settle']);
    const states = devices.map(deviceUnitState);
    const jobs = sh('systemctl', ['list-jobs', '--no-legend', '--plain'])
      .split('\n')
      .filter((l) => l.includes('btrfs-vault'))
      .join('\n');
    if (states.every((st) => st === state) && jobs === '') break;
    if (Date.now() > end)
      throw new Error(
        `the device events were not handled within ${ms} ms: ${devices.map((d, i) => `${d} ${states[i]}`).join(', ')}; jobs: ${jobs}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
  sh('journalctl', ['--sync']);
}

/** The partitions (device nodes) of the backup disk's mirrors, as attached now. */
const mirrorPartitions = () => MIRRORS.map((m) => `${vmDisk(m)}1`);

function stackIsDown(): void {
  sh('udevadm', ['settle']);
  // the kernel removes a stopped array after mdadm returns, and udev its link after that
  // (a settle may come before that event): given its time, a link that stays is reported
  if (existsSync(ARRAY)) {
    try {
      waitForGone(ARRAY);
    } catch {
      /* still there: reported below */
    }
  }
  const why = () =>
    `\n${readFileSync('/proc/mdstat', 'utf8')}\n${sh('journalctl', ['--no-pager', '-o', 'short-monotonic', '-n', '60'])}`;
  assert.ok(!existsSync(ARRAY), `${ARRAY} is stopped${existsSync(ARRAY) ? why() : ''}`);
  assert.ok(!existsSync('/dev/mapper/enc-backup'), 'LUKS is closed');
  assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(` ${MP} `), `${MP} is unmounted`);
}

const snapshots = () =>
  existsSync(join(SRC, 'snapshots', 'data'))
    ? readdirSync(join(SRC, 'snapshots', 'data'))
        .filter((n) => /^\d{4}-/.test(n))
        .sort()
    : [];

await runScenarios([
  [
    'systemd is PID 1 and the stack, a source and a config are there',
    async (notes) => {
      assert.equal(readFileSync('/proc/1/comm', 'utf8').trim(), 'systemd');
      sh('udevadm', ['settle']);
      notes.push(`the job started ${readFileSync('/proc/uptime', 'utf8').split(' ')[0]} s after the kernel`);
      mkdirSync(SRC, { recursive: true });
      sh('mkfs.btrfs', ['-q', '-f', vmDisk('bv-src')]);
      sh('mount', [vmDisk('bv-src'), SRC]);
      sh('btrfs', ['-q', 'subvolume', 'create', join(SRC, 'data')]);
      writeFileSync(join(SRC, 'data', 'notes.txt'), 'first\n');
      await stackWithConfig(
        ETC,
        {
          serials: MIRRORS,
          label: 'backup',
          array: ARRAY,
          luksName: 'enc-backup',
          volumeGroup: 'backup',
          host: 'vmhost',
          mountpoint: MP,
        },
        [{ path: join(SRC, 'data'), name: 'data' }],
        join(SRC, 'snapshots'),
      );
      stackIsDown();
      notes.push(`systemd ${sh('systemctl', ['--version']).split('\n')[0]}`);
    },
  ],
  [
    'the timer schedule install writes fires and backs up; the journal reads as plain lines',
    async (notes) => {
      const config = join(ETC, 'config.toml');
      const r = cli(['schedule', 'install', '--every', '*:*:0/10', '--config', config]);
      assert.equal(r.code, 0, r.stderr);
      const n = units();
      assert.equal(sh('systemctl', ['is-enabled', n.timer]).trim(), 'enabled');
      assert.equal(sh('systemctl', ['is-active', n.timer]).trim(), 'active');
      // test-only: the unit's random delay of up to 5 minutes, taken out
      mkdirSync(`/etc/systemd/system/${n.timer}.d`, { recursive: true });
      writeFileSync(`/etc/systemd/system/${n.timer}.d/test.conf`, '[Timer]\nRandomizedDelaySec=0\nAccuracySec=1s\n');
      sh('systemctl', ['daemon-reload']);
      sh('systemctl', ['restart', n.timer]);
      const t = Date.now();
      while (snapshots().length === 0) {
        if (Date.now() - t > 150_000)
          throw new Error(
            `the timer made no backup within 150 s: ${JSON.stringify(show(n.service))}\n${journal(n.service)}`,
          );
        await new Promise((r) => setTimeout(r, 500));
      }
      sh('systemctl', ['stop', n.timer]);
      const s = await waitForRun(n.service, '0', 120_000);
      notes.push(`the timer's backup ended ${((Date.now() - t) / 1000).toFixed(0)} s after the timer started`);
      assert.equal(s.Result, 'success', journal(n.service));
      assert.equal(snapshots().length, 1, 'one snapshot made by the timer');
      stackIsDown();
      const log = journal(n.service);
      assert.doesNotMatch(log, /\x1b\[/, 'no terminal codes in the journal');
      assert.match(log, /data/, `the journal names the source:\n${log}`);
      const status = JSON.parse(cli(['status', '--json', '--config', config]).stdout);
      assert.ok(status.sources[0].lastSuccess, `status knows the timer's backup: ${JSON.stringify(status.sources[0])}`);
      const sched = JSON.parse(cli(['schedule', 'status', '--json', '--config', config]).stdout);
      assert.equal(sched.lastResult, 'success', JSON.stringify(sched));
    },
  ],
  [
    'plugging the backup disk in starts one backup for both mirrors, which ends with the disk closed',
    async (notes) => {
      const config = join(ETC, 'config.toml');
      const n = units();
      sh('systemctl', ['disable', '--now', n.timer]);
      // as setup leaves a host: the array recorded in mdadm.conf, which the rule takes its UUID from
      writeFileSync(
        '/etc/mdadm/mdadm.conf',
        `${readFileSync('/etc/mdadm/mdadm.conf', 'utf8')}${sh('mdadm', ['--examine', '--scan'])}`,
      );
      const r = cli(['schedule', 'install', '--on-plug', '--config', config]);
      assert.equal(r.code, 0, r.stderr);
      sh('systemctl', ['disable', '--now', n.timer]);
      assert.ok(existsSync(`/etc/udev/rules.d/${n.rule}`));
      assert.match(
        readFileSync(`/etc/systemd/system/${n.plugService}`, 'utf8'),
        /^ExecStartPre=\/bin\/sleep 15$/m,
        'the unit waits for the second mirror',
      );
      // test-only: the wait for the second mirror shortened (the two plug in here within ~2 s)
      mkdirSync(`/etc/systemd/system/${n.plugService}.d`, { recursive: true });
      writeFileSync(
        `/etc/systemd/system/${n.plugService}.d/test.conf`,
        '[Service]\nExecStartPre=\nExecStartPre=/bin/sleep 5\n',
      );
      sh('systemctl', ['daemon-reload']);
      writeFileSync(join(SRC, 'data', 'notes.txt'), 'second\n');
      for (const s of MIRRORS) await unplugDisk(s);
      const before = show(n.plugService).ExecMainExitTimestampMonotonic!;
      const startsBefore = starts(n.plugService);
      const t = Date.now();
      for (const s of MIRRORS) await plugDisk(s);
      const s = await waitForRun(n.plugService, before, 180_000);
      notes.push(
        `plugged in to closed again: ${((Date.now() - t) / 1000).toFixed(0)} s (5 s of it the wait for the second mirror)`,
      );
      assert.equal(s.Result, 'success', journal(n.plugService));
      assert.equal(snapshots().length, 2, 'a second snapshot, made by the plug-in run');
      stackIsDown();
      const log = journal(n.plugService);
      assert.match(log, /the backup disk is closed: you may unplug it/, `the run says when the disk may go:\n${log}`);
      // both mirrors appeared; the unit ran once (a second start would show a second run):
      // counted once both mirrors' device events are handled, not after a guessed wait
      await deviceEventsHandled(mirrorPartitions(), 'active');
      assert.equal(starts(n.plugService) - startsBefore, 1, `one run for both mirrors:\n${journal(n.plugService)}`);
      assert.equal(show(n.plugService).ActiveState, 'inactive');
      const list = JSON.parse(cli(['list', '--json', '--config', config]).stdout);
      notes.push(`list after: ${JSON.stringify(list).slice(0, 200)}`);
      stackIsDown();
    },
  ],
  [
    'the disk pulled out while idle leaves no stale mount, array or mapping, and starts nothing',
    async () => {
      const n = units();
      const startsBefore = starts(n.plugService);
      const parts = mirrorPartitions();
      for (const s of MIRRORS) await unplugDisk(s);
      // what pulling them out would start has started once their removal is handled
      await deviceEventsHandled(parts, 'inactive');
      stackIsDown();
      assert.doesNotMatch(readFileSync('/proc/mdstat', 'utf8'), /^md\d+ :/m, 'no array left, not even an inactive one');
      assert.equal(sh('dmsetup', ['ls']).includes('enc-backup'), false);
      // (systemd unloads the inactive unit with its device, so its properties read 0: the journal tells)
      assert.equal(starts(n.plugService), startsBefore, 'pulling the disk out started no run');
      assert.ok(!['active', 'activating'].includes(show(n.plugService).ActiveState!));
      assert.equal(sh('systemctl', ['--failed', '--no-legend', '--plain']).trim(), '', 'no unit failed');
    },
  ],
]);
