import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ExecRunner } from '../../../src/system/exec-runner.js';
import { partitionCommands } from '../../../src/stack/partition.js';
import { raidCommands } from '../../../src/stack/raid.js';
import { luksCommands } from '../../../src/stack/luks.js';
import { lvmCommands } from '../../../src/stack/lvm.js';
import { mountCommands } from '../../../src/stack/filesystem.js';
import { MDADM_CONF } from '../../../src/stack/array-state.js';
import { FSTAB } from '../../../src/system/fstab-file.js';
import { cli } from '../../support/cli.js';
import { sh } from '../../support/sh.js';
import { waitForDevice } from '../../support/wait.js';
import { vmDisk } from './support.js';

// What the setup scenarios of the VM share: the host's paths, the answers files, the
// source disk, the checks they all make, and the host as the boot found it.

export const PRODUCTION_KDF = { BTRFS_VAULT_TEST_PBKDF2_ITERATIONS: '' };
export const MP = '/media/backup';
export const SRC = '/srv/src';
export const DATA = join(SRC, 'data');
export const PASS = '/tmp/passphrase';
const runner = new ExecRunner();

export function answers(file: string, disk: string, extra = ''): string {
  writeFileSync(PASS, 'correct horse battery staple\n', { mode: 0o600 });
  writeFileSync(
    file,
    `disk = "/dev/disk/by-id/virtio-${disk}"\nconfirm = "${disk}"\npassphrase_file = "${PASS}"\n${extra}`,
  );
  return file;
}

/** each host keeps its own snapshots (two hosts never share a source's snapshot folder) */
export function withSources(config: string, snapshots = 'snapshots'): void {
  const text = readFileSync(config, 'utf8');
  writeFileSync(
    config,
    text.replace(
      /^host = .*$/m,
      (l) => `${l}\nsources = [{ path = "${DATA}", name = "data" }]\nsnapshot_dir = "${SRC}/${snapshots}"`,
    ),
  );
}

export function source(): void {
  // once a boot: a later scenario of the boot backs up the same data
  if (readFileSync('/proc/self/mounts', 'utf8').includes(` ${SRC} `)) return;
  sh('mkfs.btrfs', ['-q', '-f', vmDisk('bv-src')]);
  mkdirSync(SRC, { recursive: true });
  sh('mount', [vmDisk('bv-src'), SRC]);
  sh('btrfs', ['subvolume', 'create', DATA]);
  writeFileSync(join(DATA, 'file.bin'), randomBytes(2 * 1024 * 1024));
}

export function ok(r: { code: number; stdout: string; stderr: string }): string {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** What the backup disk holds (opened with this host's config, closed again). */
export function diskContents(): { volumes: string; backups: string[]; keyslots: number } {
  ok(cli(['open', '--config', CONFIG]));
  try {
    const volumes = sh('lvs', ['--noheadings', '-o', 'lv_name,lv_size', 'backup']).trim();
    const backups = sh('btrfs', ['subvolume', 'list', '-o', '-u', MP])
      .trim()
      .split('\n')
      .map((l) => l.replace(/^ID \d+ gen \d+ top level \d+ /, ''))
      .sort();
    const keyslots = sh('cryptsetup', ['luksDump', '/dev/md/backup'])
      .split('\n')
      .filter((l) => /^\s+\d+: luks2/.test(l)).length;
    return { volumes, backups, keyslots };
  } finally {
    ok(cli(['close', '--config', CONFIG]));
  }
}

export function stackIsDown(): void {
  assert.ok(!existsSync('/dev/md/backup'), 'the array is stopped');
  assert.ok(!existsSync('/dev/mapper/enc-backup'), 'LUKS is closed');
}

export function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

export function backupWorks(config: string): void {
  const out = JSON.parse(ok(cli(['backup', '--json', '--config', config])));
  assert.equal(out.sources[0].status, 'ok');
  stackIsDown();
}

/** An old stack with other names inside, as left by an earlier life of the disk. */
export async function oldStack(serial: string): Promise<string> {
  const disk = vmDisk(serial);
  await runner.run(partitionCommands.zap(disk));
  await runner.run(partitionCommands.create(disk, 'old'));
  await runner.run(partitionCommands.reread(disk), { allowFailure: true });
  await runner.run(partitionCommands.settle());
  waitForDevice('/dev/disk/by-partlabel/old');
  await runner.run(raidCommands.create({ array: '/dev/md/backup', partition: '/dev/disk/by-partlabel/old' }));
  waitForDevice('/dev/md/backup');
  const uuid = /UUID=(\S+)/.exec(sh('mdadm', ['--detail', '--brief', '/dev/md/backup']))![1]!;
  writeFileSync('/tmp/oldkey', randomBytes(64), { mode: 0o600 });
  await runner.run(luksCommands.format('/dev/md/backup', { pbkdf: 'pbkdf2', iterations: 1000 }), {
    input: 'old passphrase',
  });
  await runner.run(luksCommands.addKeyfile('/dev/md/backup', '/tmp/oldkey', { pbkdf: 'pbkdf2', iterations: 1000 }), {
    input: 'old passphrase',
  });
  await runner.run(luksCommands.open('/dev/md/backup', 'old-enc', '/tmp/oldkey'));
  await runner.run(lvmCommands.pvcreate('/dev/mapper/old-enc'));
  await runner.run(lvmCommands.vgcreate('backup', '/dev/mapper/old-enc'));
  await runner.run(lvmCommands.lvcreate('backup', 'oldhost', 'all'));
  waitForDevice('/dev/backup/oldhost');
  await runner.run(mountCommands.mkfs('/dev/backup/oldhost', 'old'));
  await runner.run(lvmCommands.deactivateGroup('backup'));
  await runner.run(luksCommands.close('old-enc'));
  // The partition's udev record (blkid: linux_raid_member) is what setup's survey reads. Nothing
  // re-reads the partition once the array is stopped, so a change event is sent for it; udev's
  // incremental assembly (Debian's md rule) would start the old array again on that event (seen
  // at one vCPU: the record never came, or the array kept coming back), so mdadm.conf's
  // `AUTO -all` holds it off meanwhile, and the host's mdadm.conf is then as it was.
  const conf = existsSync(MDADM_CONF) ? readFileSync(MDADM_CONF, 'utf8') : undefined;
  mkdirSync(dirname(MDADM_CONF), { recursive: true });
  writeFileSync(MDADM_CONF, `${conf ?? ''}AUTO -all\n`);
  try {
    await runner.run(raidCommands.stop('/dev/md/backup'));
    const part = realpathSync('/dev/disk/by-partlabel/old');
    const running = new RegExp(`^(md\\S+) : .*\\b${basename(part)}\\[`, 'm');
    const end = Date.now() + 60_000;
    for (;;) {
      const md = running.exec(readFileSync('/proc/mdstat', 'utf8'))?.[1];
      if (md) sh('mdadm', ['--stop', `/dev/${md}`]);
      sh('udevadm', ['trigger', '--action=change', '--settle', '--', part]);
      if (!md && sh('lsblk', ['-n', '-d', '-o', 'FSTYPE', '--', part]).trim() === 'linux_raid_member') break;
      if (Date.now() > end) {
        const mdstat = readFileSync('/proc/mdstat', 'utf8');
        throw new Error(`${part}: udev never recorded the RAID member (or the array kept coming back)\n${mdstat}`);
      }
      spawnSync('sleep', ['0.2']);
    }
  } finally {
    if (conf === undefined) rmSync(MDADM_CONF, { force: true });
    else writeFileSync(MDADM_CONF, conf);
  }
  return uuid;
}

export const ETC = '/bv-out/etc-setup';
export const CONFIG = join(ETC, 'config.toml');
/** md's resync speed limit, KiB/s (the kernel's default 200000) */
export const SPEED_MAX = '/proc/sys/dev/raid/speed_limit_max';

/** The host files setup writes, as this boot found them. */
const PRISTINE = new Map([FSTAB, MDADM_CONF].map((f) => [f, existsSync(f) ? readFileSync(f, 'utf8') : undefined]));

/**
 * A scenario on a disk of its own, later in a boot: the host as it was when the boot
 * began (fstab, mdadm.conf), a host that never knew the other disks of the boot, which
 * are closed. Its config goes into a folder of its own.
 */
export function freshHost(): void {
  stackIsDown();
  for (const [file, text] of PRISTINE) {
    if (text === undefined) rmSync(file, { force: true });
    else writeFileSync(file, text);
  }
}
