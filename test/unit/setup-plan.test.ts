import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fstabLine,
  labelFor,
  planSetup,
  setupConfig,
  setupConfigText,
  type SetupSpec,
} from '../../src/flows/setup/setup-plan.js';
import { filesystemDevice } from '../../src/stack/layers.js';
import { planSummary } from '../../src/ui/summary.js';
import { formatArgv } from '../../src/system/runner.js';
import { normalize } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { parse } from 'smol-toml';

const spec: SetupSpec = {
  mode: 'new-disk',
  disk: '/dev/sdb',
  diskName: '/dev/disk/by-id/usb-WD_X_WD-123456',
  label: 'backup-wd123456',
  wipe: ['/dev/sdb1', '/dev/sdb'],
  diskBytes: 500 * 1024 ** 3,
  host: 'deimos',
  layers: ['raid', 'luks', 'lvm'],
  size: 'all',
  mountpoint: '/media/backup',
  compression: 'zstd',
  array: '/dev/md/backup',
  luksName: 'enc-backup',
  keyfile: '/etc/btrfs-vault/key',
  volumeGroup: 'backup',
  configFile: '/etc/btrfs-vault/config.toml',
  tokenFile: '/media/backup/.token',
  tokenHashFile: '/etc/btrfs-vault/token.sha512',
};

test('new disk: the plan as exact commands, in order', () => {
  const lines = planSetup(spec).flatMap((s) => s.commands.map((c) => formatArgv(c.argv)));
  assert.deepEqual(lines, [
    'mdadm --zero-superblock --force /dev/sdb1',
    'wipefs --all --force -- /dev/sdb1',
    'wipefs --all --force -- /dev/sdb',
    'dd if=/dev/zero of=/dev/sdb bs=1M count=16 conv=fsync status=none',
    'dd if=/dev/zero of=/dev/sdb bs=1M count=2 seek=64 conv=fsync status=none',
    'dd if=/dev/zero of=/dev/sdb bs=1M count=16 seek=511984 conv=fsync status=none',
    'sgdisk --zap-all -- /dev/sdb',
    'sgdisk --new=1:0:0 --typecode=1:fd00 --change-name=1:backup-wd123456 -- /dev/sdb',
    'partx --update -- /dev/sdb',
    'udevadm settle',
    'mdadm --create /dev/md/backup --run --level=1 --raid-devices=2 --metadata=1.2 --bitmap=internal --homehost=any --name=backup /dev/disk/by-partlabel/backup-wd123456 missing',
    'mdadm --detail --brief /dev/md/backup',
    'cryptsetup luksFormat --batch-mode --type luks2 --pbkdf-memory 262144 --key-file=- -- /dev/md/backup',
    'cryptsetup luksAddKey --batch-mode --pbkdf-memory 262144 --key-file=- -- /dev/md/backup /etc/btrfs-vault/key',
    'cryptsetup open --type luks --key-file /etc/btrfs-vault/key -- /dev/md/backup enc-backup',
    'pvcreate --yes -- /dev/mapper/enc-backup',
    'vgcreate --yes -- backup /dev/mapper/enc-backup',
    'lvcreate --yes -W y -n deimos -l 100%FREE -- backup',
    'mkfs.btrfs -q -L backup-deimos -- /dev/backup/deimos',
    'mount -- /media/backup',
  ]);
  assert.ok(!lines.some((l) => /passphrase|correct horse/.test(l)), 'no secret on any command line');
});

test("second host: nothing of the disk is recreated, only this host's volume", () => {
  const ids = planSetup({ ...spec, mode: 'second-host', wipe: [] }).map((s) => s.id);
  assert.deepEqual(ids, [
    'assemble',
    'mdadm-conf',
    'keyfile',
    'luks-open',
    'logical-volume',
    'mkfs',
    'fstab',
    'mount',
    'token',
    'config',
  ]);
});

test("reconnect (a rebuilt host): nothing on the disk is made; only the keyslot, the host's files and the existing token's hash", () => {
  const steps = planSetup({ ...spec, mode: 'reconnect', wipe: [] });
  assert.deepEqual(
    steps.map((s) => s.id),
    ['assemble', 'mdadm-conf', 'keyfile', 'luks-open', 'activate', 'fstab', 'mount', 'token', 'config'],
  );
  const lines = steps.flatMap((s) => s.commands.map((c) => formatArgv(c.argv)));
  assert.ok(
    !lines.some((l) =>
      /^(sgdisk|wipefs|dd|mdadm --create|cryptsetup luksFormat|pvcreate|vgcreate|lvcreate|mkfs)/.test(l),
    ),
    lines.join('\n'),
  );
  assert.ok(lines.includes('lvchange --activate y -- backup/deimos'));
  assert.ok(
    lines.includes(
      'cryptsetup luksAddKey --batch-mode --pbkdf-memory 262144 --key-file=- -- /dev/md/backup /etc/btrfs-vault/key',
    ),
  );
  const token = steps.find((s) => s.id === 'token')!;
  assert.deepEqual(token.writes, [
    '/etc/btrfs-vault/token.sha512: the sha512sum line of /media/backup/.token, mode 0600 (the token itself is not changed)',
  ]);
});

test('the reconnect summary says nothing on the disk changes, what proves ownership, and which backups it sees', () => {
  const disk = {
    path: '/dev/sdb',
    byId: spec.diskName,
    model: 'WD X',
    serial: 'WD-123456',
    size: 500 * 1024 ** 3,
    transport: 'usb',
    removable: false,
    logicalSectorSize: 512,
    eligible: true,
    reasons: [],
    signatures: ['a RAID member'],
    partitions: [],
  };
  const existing = {
    tokenSha512: 'ab'.repeat(64),
    folders: [{ name: 'home', source: '/home', latest: '2026-11-20_03-00-00' }, { name: 'www' }],
  };
  const reconnect = { ...spec, mode: 'reconnect' as const, wipe: [], existing };
  const text = planSummary(reconnect, disk, planSetup(reconnect))
    .replace(/[│╭╮╰╯─]/g, ' ')
    .replace(/\s+/g, ' ');
  assert.match(text, /mode reconnect: this host's volume is on the disk already/);
  assert.match(
    text,
    /Nothing on the disk is changed: no volume, filesystem or backup is made or touched; only a LUKS keyslot for this host's new keyfile \/etc\/btrfs-vault\/key is added/,
  );
  assert.match(text, /backups home \(\/home\), latest 2026-11-20_03-00-00 www, no complete backup/);
  assert.match(text, /the passphrase that opened the disk is the proof it is yours/);
  assert.doesNotMatch(text, /all free space|lvcreate|mkfs/);
  // a resumed reconnect did not look inside again, and says so instead of "none"
  const resumed = planSummary({ ...reconnect, existing: undefined }, disk, planSetup(reconnect))
    .replace(/[│╭╮╰╯─]/g, ' ')
    .replace(/\s+/g, ' ');
  assert.match(resumed, /backups not looked at again \(a resumed setup; btrfs-vault list shows them after it\)/);
  // a new disk's summary says none of it
  assert.doesNotMatch(planSummary(spec, disk, planSetup(spec)), /Nothing on the disk is changed|backups /);
});

test('an empty disk is not wiped; labels differ per disk', () => {
  assert.ok(!planSetup({ ...spec, wipe: [] }).some((s) => s.id === 'wipe'));
  assert.equal(labelFor('WD-123456', undefined, '/dev/sdb'), 'backup-wd123456');
  assert.notEqual(labelFor('S3Z1NB0K123', undefined, '/dev/sdc'), labelFor('S3Z1NB0K999', undefined, '/dev/sdd'));
});

test('fstab line is noauto with the compression; the config written is valid and points at the stack', () => {
  assert.equal(fstabLine(spec), '/dev/backup/deimos /media/backup btrfs noauto,compress=zstd 0 0');
  assert.equal(
    fstabLine({ ...spec, compression: 'none', mountpoint: '/media/my backup' }),
    '/dev/backup/deimos /media/my\\040backup btrfs noauto 0 0',
  );
  const cfg = normalize(spec.configFile, configSchema.parse(parse(setupConfigText(setupConfig(spec)))), undefined);
  assert.deepEqual(cfg.target.layers, ['raid', 'luks', 'lvm']);
  assert.equal(filesystemDevice(cfg.target), '/dev/backup/deimos');
  assert.equal(cfg.target.keyfile, spec.keyfile);
  assert.equal(cfg.target.tokenHashFile, spec.tokenHashFile);
  assert.deepEqual(
    cfg.retention?.target,
    { keepLast: 1, hourly: 24, daily: 31, weekly: 26, monthly: Infinity, yearly: 0 },
    'retention on, with the defaults',
  );
  assert.throws(
    () => setupConfigText(setupConfig({ ...spec, host: 'not a host name!' })),
    /its own schema refuses: host/,
  );
  // the config written describes the very target the plan was made for
  const planned = setupConfig(spec).target;
  for (const key of [
    'mountpoint',
    'layers',
    'tokenFile',
    'tokenHashFile',
    'array',
    'luksName',
    'keyfile',
    'volumeGroup',
    'logicalVolume',
    'device',
  ] as const) {
    assert.deepEqual(cfg.target[key], planned[key], key);
  }
});

test('add-mirror refuses a smaller disk, another sector size, and a disk already in the array', async () => {
  const { checkMirrorDisk } = await import('../../src/flows/setup/add-mirror.js');
  const { assessDisk } = await import('../../src/core/eligibility.js');
  const dev = (path: string, size: number, logSec = 512) => ({
    name: path.slice(5),
    path,
    type: 'disk',
    size,
    ro: false,
    rm: false,
    tran: 'usb',
    model: 'M',
    serial: path.slice(5),
    fstype: null,
    mountpoints: [null],
    'log-sec': logSec,
  });
  const ctx = { minBytes: 1024 ** 3, protectedMounts: ['/'], byId: {} };
  const member = assessDisk(dev('/dev/sda', 500 * 1024 ** 3), ctx);
  const survey = (d: ReturnType<typeof assessDisk>) => ({ devices: [], disks: [member, d] });
  const small = assessDisk(dev('/dev/sdb', 400 * 1024 ** 3), ctx);
  assert.throws(() => checkMirrorDisk(survey(small), small, ['/dev/sda']), /smaller than the array's disk/);
  const sectors = assessDisk(dev('/dev/sdb', 500 * 1024 ** 3, 4096), ctx);
  assert.throws(
    () => checkMirrorDisk(survey(sectors), sectors, ['/dev/sda']),
    /4096-byte logical sectors, the array's disk 512-byte/,
  );
  assert.throws(() => checkMirrorDisk(survey(member), member, ['/dev/sda']), /already a member/);
  const good = assessDisk(dev('/dev/sdb', 500 * 1024 ** 3), ctx);
  checkMirrorDisk(survey(good), good, ['/dev/sda']);
});
