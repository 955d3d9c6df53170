import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  realpathSync,
  rmSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
  appendFileSync,
} from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ExecRunner } from '../../../src/system/exec-runner.js';
import { raidCommands } from '../../../src/stack/raid.js';
import { luksCommands } from '../../../src/stack/luks.js';
import { createStack as createStackOn } from './create-stack.js';
import { lvmCommands } from '../../../src/stack/lvm.js';
import { mountCommands } from '../../../src/stack/filesystem.js';
import { cli } from '../../support/cli.js';
import { sh } from '../../support/sh.js';
import { tree } from '../../support/tree.js';
import { waitForDevice, waitForGone } from '../../support/wait.js';
import { assertInVm, OUT, runScenarios, unplugDisk, vmDisk, type Scenario } from './support.js';
import { metaTree } from '../../support/meta-tree.js';

// The whole stack on the VM's virtual disks: GPT -> RAID1 -> LUKS -> LVM -> btrfs -> token.
// Phases are boots: a (create, round trip, idempotence, then "unplug"), b (after the
// reboot; at its end ours pulled out and a foreign disk with the same layout in its place).

assertInVm();
const phase = process.argv[2];
const ETC = join(OUT, 'etc');
const CONFIG = join(ETC, 'config.toml');
const HOST = 'vmhost';
const MP = '/media/backup';
const SRC = '/srv/src';
const DATA = join(SRC, 'data');
const ARRAY = '/dev/md/backup';
const RESTORE = '/srv/restore';
const runner = new ExecRunner();

/** The handlers' create commands, bottom-up, as the setup wizard will run them. */
async function createStack(serial: string, token: Buffer, keyfile: string): Promise<void> {
  await createStackOn({
    serials: [serial],
    label: 'backup',
    array: ARRAY,
    luksName: 'enc-backup',
    volumeGroup: 'backup',
    host: HOST,
    mountpoint: MP,
    keyfile,
    token,
  });
}

function mountSource(): void {
  mkdirSync(SRC, { recursive: true });
  sh('mount', [vmDisk('bv-src'), SRC]);
}

function stackIsDown(): void {
  // the kernel removes a stopped array after mdadm returns, and udev its link after that:
  // later on a slow (one-vCPU) guest; a link that stays is what the assertion reports
  if (existsSync(ARRAY)) {
    try {
      waitForGone(ARRAY);
    } catch {
      /* still there: reported below */
    }
  }
  assert.ok(!existsSync(ARRAY), `${ARRAY} is stopped`);
  assert.ok(!existsSync('/dev/mapper/enc-backup'), 'LUKS is closed');
  assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(` ${MP} `), `${MP} is unmounted`);
}

/** Every array, device-mapper node and mount of the guest: what a run left open shows here. */
function openDevices(): { arrays: string[]; mapped: string[]; mounts: string[] } {
  return {
    arrays: readFileSync('/proc/mdstat', 'utf8')
      .split('\n')
      .filter((l) => /^md\d+ :/.test(l)),
    mapped: sh('dmsetup', ['ls'])
      .split('\n')
      .filter((l) => l && !/No devices found/.test(l))
      .sort(),
    mounts: readFileSync('/proc/mounts', 'utf8').split('\n').filter(Boolean).sort(),
  };
}

/** Notes how long each step took since the last. */
function timer(notes: string[]): (what: string) => void {
  let last = Date.now();
  return (what) => {
    notes.push(`${what} (${((Date.now() - last) / 1000).toFixed(1)} s)`);
    last = Date.now();
  };
}

function json(r: { code: number; stdout: string; stderr: string }, code = 0) {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout);
}

function contentsEqual(): void {
  assert.deepEqual(tree(join(MP, 'data', 'latest')), tree(join(SRC, 'snapshots', 'data', 'latest')));
}

const phases: Record<string, Scenario[]> = {
  'first-boot': [
    [
      "create the stack with the handlers' create commands",
      async () => {
        mkdirSync(ETC, { recursive: true, mode: 0o700 });
        const keyfile = join(ETC, 'key');
        writeFileSync(keyfile, randomBytes(1024), { mode: 0o600 });
        const token = randomBytes(64);
        await createStack('bv-a', token, keyfile);
        writeFileSync(
          join(ETC, 'token.sha512'),
          `${createHash('sha512').update(token).digest('hex')}  ${MP}/.token\n`,
          { mode: 0o600 },
        );
        writeFileSync(
          CONFIG,
          `host = "${HOST}"\nsources = [{ path = "${DATA}", name = "data" }]\nsnapshot_dir = "${SRC}/snapshots"\n` +
            `[target]\nmountpoint = "${MP}"\nlayers = ["raid", "luks", "lvm"]\n`,
        );
        sh('mkfs.btrfs', ['-q', vmDisk('bv-src')]);
        mountSource();
        sh('btrfs', ['subvolume', 'create', DATA]);
        writeFileSync(join(DATA, 'big.bin'), randomBytes(8 * 1024 * 1024));
        for (let i = 0; i < 100; i++) writeFileSync(join(DATA, `note-${i}.txt`), `note ${i}\n`);
        // modes, owners and symlinks, for the restore after the reboot
        chmodSync(join(DATA, 'note-5.txt'), 0o640);
        chownSync(join(DATA, 'note-5.txt'), 1234, 5678);
        symlinkSync('note-5.txt', join(DATA, 'link'));
        symlinkSync('/nowhere', join(DATA, 'dangling'));
        stackIsDown();
      },
    ],
    [
      'open -> backup (full) -> change -> backup (incremental) -> close -> open -> contents equal',
      (notes) => {
        const opened = json(cli(['open', '--json', '--config', CONFIG]));
        const outcome = Object.fromEntries(
          opened.steps.map((s: { layer: string; outcome: string }) => [s.layer, s.outcome]),
        );
        // udev's LVM rules may activate the volume as soon as LUKS opens; either way it is up
        assert.deepEqual(
          { ...outcome, lvm: 'up' },
          { raid: 'opened', luks: 'opened', lvm: 'up', filesystem: 'opened', token: 'already-open' },
        );
        notes.push(`lvm: ${outcome.lvm}`);
        const raid = opened.layers.find((l: { layer: string }) => l.layer === 'raid');
        assert.match(raid.detail, /\[U_\] degraded: 1 of 2 mirrors/);
        notes.push(raid.detail);
        const full = json(cli(['backup', '--json', '--config', CONFIG])).sources[0];
        assert.equal(full.mode, 'full');
        assert.ok(readFileSync('/proc/mounts', 'utf8').includes(` ${MP} `), 'a stack that was open stays open');
        appendFileSync(join(DATA, 'note-3.txt'), 'changed\n');
        writeFileSync(join(DATA, 'new.bin'), randomBytes(1024 * 1024));
        const incr = json(cli(['backup', '--json', '--config', CONFIG])).sources[0];
        assert.equal(incr.mode, 'incremental');
        assert.equal(incr.parent, full.snapshot);
        json(cli(['close', '--json', '--config', CONFIG]));
        stackIsDown();
        // from a closed stack, backup opens what it needs and closes it again
        writeFileSync(join(DATA, 'third.txt'), '3');
        const third = json(cli(['backup', '--json', '--config', CONFIG])).sources[0];
        assert.equal(third.mode, 'incremental');
        stackIsDown();
        json(cli(['open', '--json', '--config', CONFIG]));
        contentsEqual();
        assert.deepEqual(tree(join(MP, 'data', 'latest')), tree(DATA), 'the backup equals the live data');
      },
    ],
    [
      'open twice, close twice: the second of each does nothing',
      () => {
        const again = json(cli(['open', '--json', '--config', CONFIG]));
        assert.ok(
          again.steps.every((s: { outcome: string }) => s.outcome === 'already-open'),
          JSON.stringify(again.steps),
        );
        const closed = json(cli(['close', '--json', '--config', CONFIG]));
        assert.deepEqual(
          closed.steps.map((s: { outcome: string }) => s.outcome),
          ['already-closed', 'closed', 'closed', 'closed', 'closed'],
        );
        const twice = json(cli(['close', '--json', '--config', CONFIG]));
        assert.ok(
          twice.steps.every((s: { outcome: string }) => s.outcome === 'already-closed'),
          JSON.stringify(twice.steps),
        );
        stackIsDown();
      },
    ],
    [
      'dry-run on the closed stack: open and backup plan every layer, print its commands, change nothing',
      (notes) => {
        stackIsDown();
        const o = cli(['open', '--dry-run', '--config', CONFIG]);
        assert.equal(o.code, 0, `${o.stderr}\n${o.stdout}`);
        const opens = [
          /would run: mdadm --assemble --run \/dev\/md\/backup --uuid=\S+/,
          /would run: cryptsetup open --type luks --key-file \S+\/key -- \/dev\/md\/backup enc-backup/,
          /would run: lvchange --activate y -- backup\/vmhost/,
          /would run: mount -t btrfs -- \/dev\/backup\/vmhost \/media\/backup/,
          /would run: check the token/,
        ];
        for (const re of opens) assert.match(o.stdout, re);
        notes.push(
          o.stdout
            .split('\n')
            .filter((l) => l.startsWith('would run'))
            .join(' | '),
        );
        stackIsDown();
        const b = cli(['backup', '--dry-run', '--config', CONFIG]);
        assert.equal(b.code, 0, `${b.stderr}\n${b.stdout}`);
        for (const re of [
          ...opens,
          /would run: umount -- \/media\/backup/,
          /would run: vgchange --activate n -- backup/,
          /would run: cryptsetup close -- enc-backup/,
          /would run: mdadm --stop \/dev\/md\/backup/,
        ])
          assert.match(b.stdout, re);
        stackIsDown();
      },
    ],
    [
      'a busy mount point is refused with the processes holding it',
      async () => {
        json(cli(['open', '--json', '--config', CONFIG]));
        const holder = spawn('sleep', ['60'], { cwd: MP, stdio: 'ignore' });
        const gone = new Promise((r) => holder.once('exit', r));
        try {
          const r = cli(['close', '--config', CONFIG]);
          assert.equal(r.code, 3, r.stderr);
          assert.match(r.stderr, /busy/);
          assert.match(r.stderr, /sleep/);
          assert.match(r.stderr, /still open/);
          assert.ok(existsSync('/dev/mapper/enc-backup'), 'nothing below a busy mount is half-closed');
        } finally {
          holder.kill('SIGKILL');
        }
        // its hold on the mount point ends when it has exited, not after a guessed wait
        await gone;
        json(cli(['close', '--json', '--config', CONFIG]));
        stackIsDown();
        // left open for the "unplug": the VM is powered off with the stack up
        json(cli(['open', '--json', '--config', CONFIG]));
      },
    ],
  ],
  'after-reboot': [
    [
      'after a reboot with the same disks, open assembles the degraded array and all works again',
      (notes) => {
        notes.push(`before open: ${readFileSync('/proc/mdstat', 'utf8').replace(/\n/g, ' | ')}`);
        mountSource();
        const opened = json(cli(['open', '--json', '--config', CONFIG]));
        const raid = opened.layers.find((l: { layer: string }) => l.layer === 'raid');
        assert.ok(raid.up, raid.detail);
        assert.match(raid.detail, /\[U_\]/);
        notes.push(raid.detail);
        contentsEqual();
        writeFileSync(join(DATA, 'after-reboot.txt'), 'x');
        const r = json(cli(['backup', '--json', '--config', CONFIG])).sources[0];
        assert.equal(r.mode, 'incremental');
        contentsEqual();
        json(cli(['close', '--json', '--config', CONFIG]));
        stackIsDown();
      },
    ],
    [
      'restore through the whole stack: an older backup sent whole onto another btrfs, equal to it and read-only; the latest then incremental; an existing path refused; the stack closed as before',
      (notes) => {
        const snapshots = join(SRC, 'snapshots', 'data');
        const [older, latest] = readdirSync(snapshots)
          .filter((n) => /^\d{4}-/.test(n))
          .sort()
          .slice(-2) as [string, string];
        assert.equal(readlinkSync(join(snapshots, 'latest')), latest);
        const step = timer(notes);
        const restoreDisk = vmDisk('bv-r');
        sh('mkfs.btrfs', ['-q', restoreDisk]);
        mkdirSync(RESTORE, { recursive: true });
        sh('mount', [restoreDisk, RESTORE]);
        stackIsDown();
        const closed = openDevices();

        const full = json(cli(['restore', 'data', older, '--to', RESTORE, '--json', '--config', CONFIG]));
        assert.deepEqual([full.backup, full.how, full.restored], [older, 'full', join(RESTORE, older)]);
        assert.match(sh('btrfs', ['subvolume', 'show', full.restored]), /Flags:\s+readonly/);
        assert.deepEqual(
          metaTree(full.restored),
          metaTree(join(snapshots, older)),
          'the restored tree equals the backup',
        );
        assert.deepEqual(openDevices(), closed, 'restore closed everything it opened');
        step(`full restore: ${full.bytes} bytes`);

        const incr = json(cli(['restore', 'data', '--to', RESTORE, '--json', '--config', CONFIG]));
        assert.deepEqual([incr.backup, incr.how, incr.parent], [latest, 'incremental', older]);
        assert.ok(
          incr.bytes < full.bytes / 20 && incr.bytes < 256 * 1024,
          `only the delta: ${incr.bytes} of ${full.bytes} bytes`,
        );
        assert.match(sh('btrfs', ['subvolume', 'show', incr.restored]), /Flags:\s+readonly/);
        const restoredTree = metaTree(incr.restored);
        assert.deepEqual(restoredTree, metaTree(join(snapshots, latest)));
        assert.ok(
          restoredTree['link']?.includes('note-5.txt') && restoredTree['note-5.txt']?.includes(' 640 1234:5678 '),
          'a symlink, a mode and an owner are in the comparison',
        );
        assert.deepEqual(openDevices(), closed);
        step(`incremental restore: ${incr.bytes} bytes`);

        // read and committed before: a first read's relatime update would be a write of its own
        assert.deepEqual(readdirSync(RESTORE).sort(), [older, latest]);
        sh('btrfs', ['filesystem', 'sync', RESTORE]);
        const listed = sh('btrfs', ['subvolume', 'list', RESTORE]);
        const generation = () => /Generation:\s+(\d+)/.exec(sh('btrfs', ['subvolume', 'show', RESTORE]))![1];
        const before = generation();
        const again = cli(['restore', 'data', '--to', RESTORE, '--config', CONFIG]);
        assert.equal(again.code, 2, again.stderr);
        assert.match(again.stderr, /exists already; nothing is ever overwritten/);
        assert.deepEqual(readdirSync(RESTORE).sort(), [older, latest]);
        sh('btrfs', ['filesystem', 'sync', RESTORE]);
        assert.equal(sh('btrfs', ['subvolume', 'list', RESTORE]), listed, 'no subvolume was made or changed');
        assert.equal(generation(), before, 'nothing was written there');
        assert.deepEqual(openDevices(), closed);
        stackIsDown();
        step('an existing path refused');
      },
    ],
    [
      "schedule install --on-plug: udev (udevadm test) gives the backup disk's partition our service through systemd, an unrelated disk not",
      (notes) => {
        const root = '/tmp/schedule-root';
        const installed = cli(['schedule', 'install', '--on-plug', '--root', root, '--config', CONFIG]);
        assert.equal(installed.code, 0, `${installed.stderr}\n${installed.stdout}`);
        const rules = join(root, 'etc/udev/rules.d');
        const [rule] = readdirSync(rules);
        const service = /ENV\{SYSTEMD_WANTS\}\+="([^"]+)"/.exec(readFileSync(join(rules, rule!), 'utf8'))?.[1] ?? '';
        assert.match(service, /^btrfs-vault-[0-9a-f]{8}-plug\.service$/);
        assert.ok(
          existsSync(join(root, 'etc/systemd/system', service)),
          'the service the rule wants is installed beside it',
        );
        copyFileSync(join(rules, rule!), join('/etc/udev/rules.d', rule!));
        try {
          sh('udevadm', ['control', '--reload']);
          const test = (dev: string) => {
            const r = spawnSync('udevadm', ['test', '--action=add', `/sys/class/block/${dev}`], { encoding: 'utf8' });
            assert.equal(r.status, 0, r.stderr);
            const props = Object.fromEntries(
              r.stdout
                .split('\n')
                .map((l) => /^([A-Z_]+)=(.*)$/.exec(l))
                .filter((m) => m !== null)
                .map((m) => [m[1], m[2]]),
            );
            return { props };
          };
          const member = realpathSync('/dev/disk/by-partlabel/backup').replace('/dev/', '');
          assert.ok(
            existsSync(`/sys/block/${vmDisk('bv-a').replace('/dev/', '')}/${member}`),
            `${member} is the partition on bv-a`,
          );
          const ours = test(member);
          assert.equal(ours.props.ID_PART_ENTRY_NAME, 'backup');
          assert.ok(
            (ours.props.SYSTEMD_WANTS ?? '').split(/\s+/).includes(service),
            `SYSTEMD_WANTS=${ours.props.SYSTEMD_WANTS}`,
          );
          // (Debian's 99-systemd.rules tags every block device too; SYSTEMD_WANTS is ours alone)
          assert.match(ours.props.TAGS ?? '', /:systemd:/);
          notes.push(`${member}: SYSTEMD_WANTS=${ours.props.SYSTEMD_WANTS} TAGS=${ours.props.TAGS}`);
          // the rule names the array's UUID (both mirrors carry it), as blkid writes it
          const md = /UUID : (\S+)/.exec(sh('mdadm', ['--examine', `/dev/${member}`]))![1]!.replaceAll(':', '');
          assert.equal(
            ours.props.ID_FS_UUID,
            `${md.slice(0, 8)}-${md.slice(8, 12)}-${md.slice(12, 16)}-${md.slice(16, 20)}-${md.slice(20)}`,
          );
          assert.match(
            readFileSync(join(rules, rule!), 'utf8'),
            new RegExp(`ENV\\{ID_FS_UUID\\}=="${ours.props.ID_FS_UUID}"`),
          );
          const other = test(vmDisk('bv-src').replace('/dev/', ''));
          assert.equal(other.props.SUBSYSTEM, 'block');
          assert.ok(
            !(other.props.SYSTEMD_WANTS ?? '').includes(service),
            `an unrelated disk: SYSTEMD_WANTS=${other.props.SYSTEMD_WANTS}`,
          );
          // a user's own partition named like ours ("backup-photos") starts nothing
          const img = '/tmp/photos.img';
          sh('truncate', ['-s', '64M', img]);
          sh('sgdisk', ['--new=1:0:0', '--change-name=1:backup-photos', img]);
          const loop = sh('losetup', ['--show', '-f', '-P', img]).trim();
          try {
            sh('udevadm', ['settle']);
            const photos = test(`${loop.replace('/dev/', '')}p1`);
            assert.equal(photos.props.ID_PART_ENTRY_NAME, 'backup-photos');
            assert.ok(
              !(photos.props.SYSTEMD_WANTS ?? '').includes(service),
              `a "backup-photos" partition: SYSTEMD_WANTS=${photos.props.SYSTEMD_WANTS}`,
            );
          } finally {
            sh('losetup', ['-d', loop]);
          }
        } finally {
          rmSync(join('/etc/udev/rules.d', rule!), { force: true });
          sh('udevadm', ['control', '--reload']);
          // udevadm test runs the rules' IMPORT programs: Debian's md rule (mdadm --incremental)
          // assembled the array from the member it was shown, inactive; stopped, as it was
          if (existsSync(ARRAY)) {
            sh('mdadm', ['--stop', ARRAY]);
            // udev removes the link after the stop, later on a slow (one-vCPU) guest
            waitForGone(ARRAY);
          }
        }
        stackIsDown();
      },
    ],
    [
      'a disk with the same layout but another token, plugged in instead of ours: refused, nothing written, stack closed again',
      async () => {
        // ours is pulled out (the stack is closed), the foreign one is the only backup disk there
        stackIsDown();
        await unplugDisk('bv-a');
        // the same keyfile opens it, so the token is what tells the disks apart
        await createStack('bv-f', randomBytes(64), join(ETC, 'key'));
        const r = cli(['backup', '--config', CONFIG]);
        assert.equal(r.code, 3, r.stderr);
        assert.match(r.stderr, /refusing the backup filesystem.*does not match/s);
        stackIsDown();
        const o = cli(['open', '--config', CONFIG]);
        assert.equal(o.code, 3);
        stackIsDown();
        // look inside with plain tools: nothing was written
        await runner.run(raidCommands.assembleByUuid(ARRAY, uuidOf()));
        await runner.run(luksCommands.open(ARRAY, 'enc-backup', join(ETC, 'key')));
        await runner.run(lvmCommands.activate('backup', HOST));
        waitForDevice(`/dev/backup/${HOST}`);
        await runner.run(mountCommands.mountDevice(`/dev/backup/${HOST}`, MP));
        assert.deepEqual(sh('ls', ['-A', MP]).split('\n').filter(Boolean), ['.token']);
        await runner.run(mountCommands.umount(MP));
        await runner.run(lvmCommands.deactivateGroup('backup'));
        await runner.run(luksCommands.close('enc-backup'));
        await runner.run(raidCommands.stop(ARRAY));
      },
    ],
  ],
};

function uuidOf(): string {
  const line = sh('mdadm', ['--examine', '--scan'])
    .split('\n')
    .find((l) => l.includes('UUID='))!;
  return /UUID=(\S+)/.exec(line)![1]!;
}

if (!phases[phase!]) throw new Error(`unknown phase ${phase}`);
await runScenarios(phases[phase!]!);
