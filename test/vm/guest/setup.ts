import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ExecRunner } from '../../../src/system/exec-runner.js';
import { partitionCommands } from '../../../src/stack/partition.js';
import { raidCommands } from '../../../src/stack/raid.js';
import { luksCommands } from '../../../src/stack/luks.js';
import { lvmCommands } from '../../../src/stack/lvm.js';
import { mountCommands } from '../../../src/stack/filesystem.js';
import { MDADM_CONF } from '../../../src/stack/array-state.js';
import { FSTAB } from '../../../src/system/fstab-file.js';
import { metaTree } from '../../support/meta-tree.js';
import { assertInVm, cli, drivePty, runScenarios, sh, tree, vmDisk, waitFor } from './support.js';

// Setup and add-mirror on the VM's virtual disks, unattended (--answers), as a script would.

assertInVm();
const phase = process.argv[2];
// test-only fast keyslots (src/flows/setup-test-hooks.ts); the production key derivation
// is checked where it is decided, in the printed plan. Not for the setup killed half-way:
// its kill has to land while argon2 is still making the first keyslot
process.env.BTRFS_VAULT_TEST_PBKDF2_ITERATIONS = '1000';
const PRODUCTION_KDF = { BTRFS_VAULT_TEST_PBKDF2_ITERATIONS: '' };
const MP = '/media/backup';
const SRC = '/srv/src';
const DATA = join(SRC, 'data');
const PASS = '/tmp/passphrase';
const runner = new ExecRunner();

function answers(file: string, disk: string, extra = ''): string {
  writeFileSync(PASS, 'correct horse battery staple\n', { mode: 0o600 });
  writeFileSync(file, `disk = "/dev/disk/by-id/virtio-${disk}"\nconfirm = "${disk}"\npassphrase_file = "${PASS}"\n${extra}`);
  return file;
}

/** each host keeps its own snapshots (two hosts never share a source's snapshot folder) */
function withSources(config: string, snapshots = 'snapshots'): void {
  const text = readFileSync(config, 'utf8');
  writeFileSync(config, text.replace(/^host = .*$/m, (l) => `${l}\nsources = [{ path = "${DATA}", name = "data" }]\nsnapshot_dir = "${SRC}/${snapshots}"`));
}

function source(): void {
  // once a boot: a later scenario of the boot backs up the same data
  if (readFileSync('/proc/self/mounts', 'utf8').includes(` ${SRC} `)) return;
  sh('mkfs.btrfs', ['-q', '-f', vmDisk('bv-src')]);
  mkdirSync(SRC, { recursive: true });
  sh('mount', [vmDisk('bv-src'), SRC]);
  sh('btrfs', ['subvolume', 'create', DATA]);
  writeFileSync(join(DATA, 'file.bin'), randomBytes(2 * 1024 * 1024));
}

function ok(r: { code: number; stdout: string; stderr: string }): string {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** What the backup disk holds (opened with this host's config, closed again). */
function diskContents(): { volumes: string; backups: string[]; keyslots: number } {
  ok(cli(['open', '--config', CONFIG]));
  try {
    const volumes = sh('lvs', ['--noheadings', '-o', 'lv_name,lv_size', 'backup']).trim();
    const backups = sh('btrfs', ['subvolume', 'list', '-o', '-u', MP]).trim().split('\n').map((l) => l.replace(/^ID \d+ gen \d+ top level \d+ /, '')).sort();
    const keyslots = sh('cryptsetup', ['luksDump', '/dev/md/backup']).split('\n').filter((l) => /^\s+\d+: luks2/.test(l)).length;
    return { volumes, backups, keyslots };
  } finally {
    ok(cli(['close', '--config', CONFIG]));
  }
}

function stackIsDown(): void {
  assert.ok(!existsSync('/dev/md/backup'), 'the array is stopped');
  assert.ok(!existsSync('/dev/mapper/enc-backup'), 'LUKS is closed');
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

function backupWorks(config: string): void {
  const out = JSON.parse(ok(cli(['backup', '--json', '--config', config])));
  assert.equal(out.sources[0].status, 'ok');
  stackIsDown();
}

/** An old stack with other names inside, as left by an earlier life of the disk. */
async function oldStack(serial: string): Promise<string> {
  const disk = vmDisk(serial);
  await runner.run(partitionCommands.zap(disk));
  await runner.run(partitionCommands.create(disk, 'old'));
  await runner.run(partitionCommands.reread(disk), { allowFailure: true });
  await runner.run(partitionCommands.settle());
  waitFor('/dev/disk/by-partlabel/old');
  await runner.run(raidCommands.create({ array: '/dev/md/backup', partition: '/dev/disk/by-partlabel/old' }));
  waitFor('/dev/md/backup');
  const uuid = /UUID=(\S+)/.exec(sh('mdadm', ['--detail', '--brief', '/dev/md/backup']))![1]!;
  writeFileSync('/tmp/oldkey', randomBytes(64), { mode: 0o600 });
  await runner.run(luksCommands.format('/dev/md/backup', { pbkdf: 'pbkdf2', iterations: 1000 }), { input: 'old passphrase' });
  await runner.run(luksCommands.addKeyfile('/dev/md/backup', '/tmp/oldkey', { pbkdf: 'pbkdf2', iterations: 1000 }), { input: 'old passphrase' });
  await runner.run(luksCommands.open('/dev/md/backup', 'old-enc', '/tmp/oldkey'));
  await runner.run(lvmCommands.pvcreate('/dev/mapper/old-enc'));
  await runner.run(lvmCommands.vgcreate('backup', '/dev/mapper/old-enc'));
  await runner.run(lvmCommands.lvcreate('backup', 'oldhost', 'all'));
  waitFor('/dev/backup/oldhost');
  await runner.run(mountCommands.mkfs('/dev/backup/oldhost', 'old'));
  await runner.run(lvmCommands.deactivateGroup('backup'));
  await runner.run(luksCommands.close('old-enc'));
  await runner.run(raidCommands.stop('/dev/md/backup'));
  return uuid;
}

const ETC = '/bv-out/etc-setup';
const CONFIG = join(ETC, 'config.toml');
/** md's resync speed limit, KiB/s (the kernel's default 200000) */
const SPEED_MAX = '/proc/sys/dev/raid/speed_limit_max';

/** The host files setup writes, as this boot found them. */
const PRISTINE = new Map([FSTAB, MDADM_CONF].map((f) => [f, existsSync(f) ? readFileSync(f, 'utf8') : undefined]));

/**
 * A scenario on a disk of its own, later in a boot: the host as it was when the boot
 * began (fstab, mdadm.conf), a host that never knew the other disks of the boot, which
 * are closed. Its config goes into a folder of its own.
 */
function freshHost(): void {
  stackIsDown();
  for (const [file, text] of PRISTINE) {
    if (text === undefined) rmSync(file, { force: true });
    else writeFileSync(file, text);
  }
}

const phases: Record<string, [string, (notes: string[]) => Promise<void> | void][]> = {
  d: [
    ['setup refuses the disk that holds a mounted filesystem', () => {
      source();
      const r = cli(['setup', '--answers', answers('/tmp/a-src.toml', 'bv-src'), '--config', CONFIG, '--host', 'vmhost']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`holds the mounted filesystem ${SRC}`));
      assert.ok(!existsSync(CONFIG), 'nothing was written');
      assert.ok(!readFileSync('/etc/fstab', 'utf8').includes(MP));
    }],
    ['a wrong confirmation changes nothing', () => {
      const file = answers('/tmp/a-bad.toml', 'bv-n');
      writeFileSync(file, readFileSync(file, 'utf8').replace('confirm = "bv-n"', 'confirm = "bv-m"'));
      const r = cli(['setup', '--answers', file, '--config', CONFIG, '--host', 'vmhost']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /does not match the disk/);
      assert.equal(sh('lsblk', ['-n', '-o', 'NAME', vmDisk('bv-n')]).trim().split('\n').length, 1, 'no partition was made');
    }],
    ['setup --dry-run prints the plan and changes nothing', () => {
      const out = ok(cli(['setup', '--dry-run', '--answers', answers('/tmp/a.toml', 'bv-n'), '--config', CONFIG, '--host', 'vmhost'], PRODUCTION_KDF));
      assert.match(out, /mdadm --create \/dev\/md\/backup/);
      // cryptsetup's argon2id, capped at 256 MiB so that a small machine can open the disk
      assert.match(out, /cryptsetup luksFormat --batch-mode --type luks2 --pbkdf-memory 262144 --key-file=- -- \/dev\/md\/backup {3}\(passphrase on stdin\)/);
      assert.match(out, /dry run: nothing was changed/);
      assert.ok(!existsSync(CONFIG) && !existsSync('/dev/md/backup'));
      assert.equal(sh('lsblk', ['-n', '-o', 'NAME', vmDisk('bv-n')]).trim().split('\n').length, 1, 'no partition was made');
    }],
    ['a foreign filesystem mounted at the mount point is refused before anything is written', () => {
      mkdirSync(MP, { recursive: true });
      sh('mount', [vmDisk('bv-src'), MP]);
      try {
        const r = cli(['setup', '--answers', answers('/tmp/a.toml', 'bv-n'), '--config', CONFIG, '--host', 'vmhost']);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, new RegExp(`${MP} already has ${vmDisk('bv-src')} \\(btrfs\\) mounted on it, not this host's backup volume /dev/backup/vmhost`));
        assert.match(r.stderr, new RegExp(`umount ${MP}.*or choose another mount point`));
      } finally {
        sh('umount', [MP]);
      }
      assert.ok(!existsSync(CONFIG), 'no config');
      assert.equal(sh('lsblk', ['-n', '-o', 'NAME', vmDisk('bv-n')]).trim().split('\n').length, 1, 'no partition was made');
      assert.doesNotMatch(readFileSync('/etc/fstab', 'utf8'), new RegExp(MP));
    }],
    ['unattended setup on a fresh disk, then backup', (notes) => {
      // half of the disk, so that a second host fits beside it
      const out = ok(cli(['setup', '--answers', answers('/tmp/a.toml', 'bv-n', 'size = "480M"\n'), '--config', CONFIG, '--host', 'vmhost']));
      assert.match(out, /sgdisk --new=1:0:0 --typecode=1:fd00 --change-name=1:backup-bvn/);
      assert.match(out, /cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file=- -- \/dev\/md\/backup {3}\(passphrase on stdin\)/);
      assert.doesNotMatch(out, /correct horse/, 'the passphrase is never printed');
      stackIsDown();
      for (const f of ['key', 'token.sha512', 'config.toml']) assert.equal(mode(join(ETC, f)), 0o600, `${f} is 0600`);
      assert.equal(statSync(join(ETC, 'key')).size, 1024);
      const conf = readFileSync('/etc/mdadm/mdadm.conf', 'utf8');
      assert.equal(conf.split('\n').filter((l) => l.startsWith('ARRAY /dev/md/backup')).length, 1, 'one ARRAY line');
      assert.match(conf, /name=any:backup/);
      notes.push(conf.split('\n').find((l) => l.startsWith('ARRAY'))!);
      const fstab = readFileSync('/etc/fstab', 'utf8').split('\n').filter((l) => l.includes(MP));
      assert.deepEqual(fstab, [`/dev/backup/vmhost ${MP} btrfs noauto,compress=zstd 0 0`]);
      withSources(CONFIG);
      backupWorks(CONFIG);
    }],
    ['setup --dry-run for a second host on the closed backup disk plans joining it, without assembling anything', () => {
      stackIsDown();
      const etc2 = '/bv-out/etc-host2';
      const out = ok(cli(['setup', '--dry-run', '--answers', answers('/tmp/a2.toml', 'bv-n', `mountpoint = "/media/backup2"\n`), '--config', join(etc2, 'config.toml'), '--host', 'vmhost2']));
      assert.match(out, /second host on an existing backup disk/);
      assert.match(out, /mdadm --assemble --run \/dev\/md\/backup \/dev\/disk\/by-partlabel\/backup-bvn/);
      assert.doesNotMatch(out, /luksFormat|sgdisk --zap-all|vgcreate|wipefs/, 'nothing of the disk would be recreated');
      assert.match(out, /dry run: nothing was changed/);
      stackIsDown();
      assert.ok(!existsSync(join(etc2, 'config.toml')));
    }],
    ['a second host on the same disk gets its own volume and token', () => {
      const etc2 = '/bv-out/etc-host2';
      const out = ok(cli(['setup', '--answers', answers('/tmp/a2.toml', 'bv-n', `mountpoint = "/media/backup2"\n`), '--config', join(etc2, 'config.toml'), '--host', 'vmhost2']));
      assert.match(out, /second host on an existing backup disk/);
      assert.doesNotMatch(out, /luksFormat|sgdisk --zap-all|vgcreate/, 'nothing of the first host is recreated');
      withSources(join(etc2, 'config.toml'), 'snapshots-host2');
      backupWorks(join(etc2, 'config.toml'));
      backupWorks(CONFIG);
      assert.notEqual(readFileSync(join(etc2, 'token.sha512'), 'utf8').slice(0, 128), readFileSync(join(ETC, 'token.sha512'), 'utf8').slice(0, 128));
      const conf = readFileSync('/etc/mdadm/mdadm.conf', 'utf8');
      assert.equal(conf.split('\n').filter((l) => l.startsWith('ARRAY')).length, 1, 'still one ARRAY line');
    }],
    ['add-mirror: the second disk resyncs to [UU]', (notes) => {
      // a dry-run with the array closed still knows its member (from the superblocks)
      stackIsDown();
      const member = cli(['add-mirror', '--dry-run', '--disk', '/dev/disk/by-id/virtio-bv-n', '--confirm', 'bv-n', '--config', CONFIG]);
      assert.equal(member.code, 2, member.stderr);
      assert.match(member.stderr, /already a member of the array/);
      stackIsDown();
      const out = ok(cli(['add-mirror', '--disk', '/dev/disk/by-id/virtio-bv-m', '--confirm', 'bv-m', '--config', CONFIG]));
      assert.match(out, /in sync \[UU\]/);
      const mdstat = readFileSync('/proc/mdstat', 'utf8');
      assert.match(mdstat, /\[2\/2\] \[UU\]/);
      notes.push(mdstat.split('\n').filter((l) => l.includes('[')).join(' | '));
      const opened = JSON.parse(ok(cli(['open', '--json', '--config', CONFIG])));
      assert.match(opened.layers[0].detail, /\[UU\]/);
      // verify on the whole mirror: the newest pair equal, the scrub clean, md's check without mismatches
      const verified = JSON.parse(ok(cli(['verify', '--json', '--config', CONFIG])));
      assert.deepEqual([verified.ok, verified.scrub.csumErrors, verified.mdCheck.mismatches], [true, 0, 0]);
      notes.push(`verify: scrub ${verified.scrub.bytes} bytes, md check ${verified.mdCheck.mismatches} mismatches`);
      ok(cli(['close', '--config', CONFIG]));
    }],
    ['a failed member is replaced with add-mirror --no-wait, which returns during the resync', async (notes) => {
      ok(cli(['open', '--config', CONFIG]));
      sh('mdadm', ['--manage', '/dev/md/backup', '--fail', '/dev/disk/by-partlabel/backup-bvm']);
      assert.match(readFileSync('/proc/mdstat', 'utf8'), /\(F\)/);
      // status names the failed member and warns
      const failed = JSON.parse(cli(['status', '--json', '--config', CONFIG]).stdout);
      assert.equal(failed.target.array.failed.length, 1, JSON.stringify(failed.target.array));
      assert.ok(failed.warnings.some((w: { code: string }) => w.code === 'degraded'));
      // slowed, so the recovery is surely still going when the runs below look at it
      writeFileSync(SPEED_MAX, '2000');
      try {
        const out = ok(cli(['add-mirror', '--no-wait', '--disk', '/dev/disk/by-id/virtio-bv-x', '--confirm', 'bv-x', '--config', CONFIG]));
        assert.match(out, /mdadm --manage \/dev\/md\/backup --remove failed/);
        assert.match(out, /goes on in the background/);
        const during = readFileSync('/proc/mdstat', 'utf8');
        notes.push(during.split('\n').filter((l) => l.includes('[')).join(' | '));
        assert.doesNotMatch(during, /\(F\)/, 'the failed member was removed');
        assert.match(during, /recovery/);
        const resync = JSON.parse(cli(['status', '--json', '--config', CONFIG]).stdout);
        notes.push(`status during the resync: ${JSON.stringify(resync.target.array.sync)}`);
        assert.equal(resync.target.array.degraded, true);
        // the disk plugged in while the array recovers, everything above it closed (as udev
        // leaves it): the run backs up and closes what it opened, but leaves the recovering
        // array running, or the new mirror would only sync during runs
        sh('umount', [MP]);
        sh('vgchange', ['-an', 'backup']);
        sh('cryptsetup', ['close', 'enc-backup']);
        const plugged = cli(['backup', '--on-plug', '--config', CONFIG]);
        assert.equal(plugged.code, 0, plugged.stderr);
        assert.match(plugged.stderr, /the backup disk is not closed: \/dev\/md\/backup is in recover, [\d.]+% done; left running so it can finish .*unplug it once that is done/);
        assert.doesNotMatch(plugged.stderr, /you may unplug it/);
        assert.ok(!existsSync('/dev/mapper/enc-backup'), 'LUKS closed');
        assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(` ${MP} `), 'unmounted');
        assert.match(readFileSync('/proc/mdstat', 'utf8'), /recovery/, 'still recovering');
        notes.push(plugged.stderr.split('\n').filter((l) => /not closed/.test(l)).join(''));
      } finally {
        writeFileSync(SPEED_MAX, '200000');
      }
      const end = Date.now() + 180_000;
      while (!/\[2\/2\] \[UU\]/.test(readFileSync('/proc/mdstat', 'utf8')) || /recovery/.test(readFileSync('/proc/mdstat', 'utf8'))) {
        if (Date.now() > end) throw new Error('the resync did not finish');
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.match(sh('mdadm', ['--detail', '/dev/md/backup']), /\/dev\/vd[a-z]1/);
      // whole again: the next unattended run closes the array the last one left running
      const after = cli(['backup', '--on-plug', '--config', CONFIG]);
      assert.equal(after.code, 0, after.stderr);
      assert.match(after.stderr, /the backup disk is closed: you may unplug it/);
      stackIsDown();
    }],
    ['bare metal: a rebuilt machine with only the passphrase reconnects to its volume (nothing on the disk is made) and restores', (notes) => {
      // the first machine's data, with modes, owners, an xattr and a symlink, backed up
      writeFileSync(join(DATA, 'secret.txt'), 'for 1234 only\n');
      chownSync(join(DATA, 'secret.txt'), 1234, 5678);
      chmodSync(join(DATA, 'secret.txt'), 0o640);
      mkdirSync(join(DATA, 'dir'), { mode: 0o750 });
      symlinkSync('../file.bin', join(DATA, 'dir', 'link'));
      sh('setfattr', ['-n', 'user.origin', '-v', 'first machine', join(DATA, 'dir')]);
      backupWorks(CONFIG);
      const want = metaTree(DATA);
      const oldHash = readFileSync(join(ETC, 'token.sha512'), 'utf8').slice(0, 128);
      const before = diskContents();
      // the machine is lost: its config, keyfile, token hash, fstab line, ARRAY line and records
      rmSync(ETC, { recursive: true });
      writeFileSync('/etc/fstab', readFileSync('/etc/fstab', 'utf8').split('\n').filter((l) => l.split(/\s+/)[1] !== MP).join('\n'));
      writeFileSync('/etc/mdadm/mdadm.conf', readFileSync('/etc/mdadm/mdadm.conf', 'utf8').split('\n').filter((l) => !l.startsWith('ARRAY')).join('\n'));
      rmSync('/var/lib/btrfs-vault', { recursive: true, force: true });
      // the new machine: an empty btrfs for the restore
      sh('mkfs.btrfs', ['-q', '-f', vmDisk('bv-t')]);
      mkdirSync('/mnt/new', { recursive: true });
      sh('mount', [vmDisk('bv-t'), '/mnt/new']);

      const out = ok(cli(['setup', '--answers', answers('/tmp/a-re.toml', 'bv-n'), '--config', CONFIG, '--host', 'vmhost']));
      const box = out.replace(/[│╭╮╰╯─]/g, ' ').replace(/\s+/g, ' ');
      assert.match(box, /mode reconnect: this host's volume is on the disk already/);
      assert.match(box, /Nothing on the disk is changed: no volume, filesystem or backup is made or touched/);
      assert.match(box, new RegExp(`backups data \\(${DATA}\\), latest \\d{4}-`));
      assert.match(box, /the passphrase that opened the disk is the proof it is yours/);
      assert.doesNotMatch(out, /luksFormat|sgdisk|wipefs|pvcreate|vgcreate|lvcreate|mkfs/, 'nothing of the disk is made');
      assert.doesNotMatch(out, /correct horse/, 'the passphrase is never printed');
      assert.match(out, /btrfs-vault restore data --to DIR/);
      stackIsDown();
      assert.equal(readFileSync(join(ETC, 'token.sha512'), 'utf8').slice(0, 128), oldHash, 'the token on the volume is the one kept');
      for (const f of ['key', 'token.sha512', 'config.toml']) assert.equal(mode(join(ETC, f)), 0o600, `${f} is 0600`);

      // as the README says: restore by the backup folder's name, no source configured yet
      const restored = JSON.parse(ok(cli(['restore', 'data', '--to', '/mnt/new', '--json', '--config', CONFIG])));
      assert.equal(restored.how, 'full');
      assert.equal(restored.source, DATA, 'the path it was backed up from, from the folder\'s owner file');
      assert.deepEqual(metaTree(restored.restored), want, 'the restored tree equals the original: contents, modes, owners, times, xattrs, links');
      stackIsDown();
      notes.push(`restored ${restored.bytes} bytes in ${restored.seconds} s`);

      // the lost keyfile is not needed: the new one opens the disk, which holds what it held, plus one keyslot
      const after = diskContents();
      assert.deepEqual(after.volumes, before.volumes);
      assert.deepEqual(after.backups, before.backups);
      assert.equal(after.keyslots, before.keyslots + 1, 'one keyslot added');
      notes.push(`keyslots ${before.keyslots} -> ${after.keyslots}`);
      withSources(CONFIG);
      backupWorks(CONFIG);
      sh('umount', ['/mnt/new']);
    }],
  ],
};

/** A disk with leftovers of an earlier stack (bv-o), on a fresh host. */
const ETC_LEFTOVERS = '/bv-out/etc-leftovers';
const leftovers: [string, (notes: string[]) => Promise<void> | void][] = [
  ['a disk with leftovers of an earlier stack is refused, then wiped properly and set up', async () => {
    freshHost();
    const config = join(ETC_LEFTOVERS, 'config.toml');
    const oldUuid = await oldStack('bv-o');
    // this host knew the old array: its ARRAY line is replaced by the new one's, not kept beside it
    const conf = () => (existsSync(MDADM_CONF) ? readFileSync(MDADM_CONF, 'utf8') : '');
    mkdirSync('/etc/mdadm', { recursive: true });
    // the old array's line only: the other disks of this boot carry arrays of the same name
    const oldLine = sh('mdadm', ['--examine', '--scan']).split('\n').filter((l) => l.includes(`UUID=${oldUuid}`));
    assert.equal(oldLine.length, 1, 'the old array is found on its disk');
    writeFileSync(MDADM_CONF, `${conf()}${oldLine[0]}\n`);
    assert.match(conf(), new RegExp(`^ARRAY /dev/md/backup .*UUID=${oldUuid}`, 'm'));
    const refused = cli(['setup', '--answers', answers('/tmp/a.toml', 'bv-o'), '--config', config, '--host', 'vmhost']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /not empty.*an mdadm RAID member.*wipe_existing = true/s);
    ok(cli(['setup', '--answers', answers('/tmp/a.toml', 'bv-o', 'wipe_existing = true\n'), '--config', config, '--host', 'vmhost']));
    const lines = conf().split('\n').filter((l) => l.startsWith('ARRAY /dev/md/backup '));
    assert.equal(lines.length, 1, `one line for the name:\n${conf()}`);
    const newUuid = /UUID=(\S+)/.exec(lines[0]!)![1];
    assert.notEqual(newUuid, oldUuid, 'a new array');
    ok(cli(['open', '--config', config]));
    assert.notEqual(sh('lvs', ['--noheadings', '-o', 'lv_name', 'backup']).trim(), 'oldhost');
    assert.equal(sh('lvs', ['--noheadings', '-o', 'lv_name', 'backup']).trim(), 'vmhost');
    assert.equal(sh('ls', ['-A', MP]).trim(), '.token');
    ok(cli(['close', '--config', config]));
  }],
];

/** A setup killed half-way (bv-r), on a fresh host, with the production key derivation. */
const ETC_RESUME = '/bv-out/etc-resume';
const resume: [string, (notes: string[]) => Promise<void> | void][] = [
  ['a setup killed half-way is resumed', async (notes) => {
    freshHost();
    const config = join(ETC_RESUME, 'config.toml');
    source();
    const file = answers('/tmp/a.toml', 'bv-r');
    // where the time goes (argon2 under emulation): seconds of each part, in the notes
    let t = Date.now();
    const lap = (what: string): void => {
      notes.push(`${what} ${((Date.now() - t) / 1000).toFixed(1)} s`);
      t = Date.now();
    };
    // its own process group, killed whole: cryptsetup dies with it, as at a power cut
    const child = spawn('node', ['dist/test-bundle/btrfs-vault.cjs', 'setup', '--answers', file, '--config', config, '--host', 'vmhost'], { stdio: 'ignore', detached: true, env: { ...process.env, ...PRODUCTION_KDF } });
    const end = Date.now() + 120_000;
    // stop it right after LUKS is formatted, before the keyfile is added
    while (!(existsSync('/dev/md/backup') && spawnSync('cryptsetup', ['isLuks', '/dev/md/backup']).status === 0)) {
      if (Date.now() > end) throw new Error('setup never got as far as LUKS');
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((r) => child.on('close', r));
    lap('killed after');
    notes.push(`killed with state: ${readFileSync(join(ETC_RESUME, 'setup-state.json'), 'utf8').replace(/\s+/g, ' ')}`);
    // meanwhile a foreign filesystem was mounted where the backup disk goes: the resume refuses
    mkdirSync(MP, { recursive: true });
    sh('mount', [vmDisk('bv-src'), MP]);
    const refused = cli(['setup', '--answers', file, '--config', config, '--host', 'vmhost'], PRODUCTION_KDF);
    sh('umount', [MP]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /already has .* mounted on it, not this host's backup volume/);
    lap('refused');
    const out = ok(cli(['setup', '--answers', file, '--config', config, '--host', 'vmhost'], PRODUCTION_KDF));
    lap('resumed setup');
    assert.match(out, /resuming the setup/);
    assert.ok(!existsSync(join(ETC_RESUME, 'setup-state.json')), 'the state file is gone when setup is through');
    withSources(config, 'snapshots-resume');
    backupWorks(config);
    lap('backup');
    ok(cli(['open', '--config', config]));
    assert.deepEqual(tree(join(MP, 'data', 'latest')), tree(DATA));
    ok(cli(['close', '--config', config]));
  }],
];

const DOWN = '\x1b[B';
const PASSPHRASE = 'correct horse battery staple';
const wizard = (serial: string): [RegExp, string][] => [
  [/Which disk for the backups\?/, `${DOWN}\r`],
  // the whole stack is the default
  [/Layers of the backup disk/, '\r'],
  [/LUKS passphrase/, `${PASSPHRASE}\r`],
  [/The same passphrase again/, `${PASSPHRASE}\r`],
  [/Size of this host's volume/, '\r'],
  [/Mount point/, '\r'],
  [/Compression/, '\r'],
  [/Type the disk's serial/, `${serial}\r`],
];

phases.g = [
  ['the interactive wizard in a terminal: a refused disk is shown with its reason, a wrong serial stops it', async () => {
    source();
    const r = await drivePty(['node', 'dist/test-bundle/btrfs-vault.cjs', 'setup', '--config', CONFIG, '--host', 'vmhost'], wizard('not-the-serial'));
    assert.equal(r.code, 2, r.screen.slice(-2000));
    // the screen without colours, wrapped lines joined
    const text = r.screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\s+/g, ' ');
    assert.match(text, new RegExp(`virtio-bv-src .*refused: holds the mounted filesystem ${SRC}`));
    assert.match(r.screen, /does not match the disk/);
    assert.doesNotMatch(r.screen, new RegExp(PASSPHRASE), 'the passphrase is never echoed');
    assert.ok(!existsSync(CONFIG));
    assert.equal(sh('lsblk', ['-n', '-o', 'NAME', vmDisk('bv-p')]).trim().split('\n').length, 1, 'no partition was made');
  }],
  ['the interactive wizard in a terminal: the happy path, then a backup', async () => {
    const r = await drivePty(['node', 'dist/test-bundle/btrfs-vault.cjs', 'setup', '--config', CONFIG, '--host', 'vmhost'], wizard('bv-p'));
    assert.equal(r.code, 0, r.screen.slice(-3000));
    assert.match(r.screen, /btrfs-vault setup/);
    assert.match(r.screen, /The backup disk is ready/);
    assert.doesNotMatch(r.screen, new RegExp(PASSPHRASE));
    withSources(CONFIG);
    backupWorks(CONFIG);
  }],
  ['a plain btrfs disk (layers = []): no passphrase, no array, LUKS or LVM; then a backup onto it', (notes) => {
    plainDisk(notes, 'bv-q', [], '/media/plain');
  }],
  ['a disk with LUKS alone (no RAID, no LVM); then a backup onto it', (notes) => {
    plainDisk(notes, 'bv-u', ['luks'], '/media/crypt');
  }],
  ['a mirror without LVM: refused while the host records the whole stack\'s array under the name; once that line is gone, set up and backed up', (notes) => {
    const etc = '/bv-out/etc-bv-w';
    const conf = () => readFileSync('/etc/mdadm/mdadm.conf', 'utf8');
    const before = conf();
    assert.match(before, /^ARRAY \/dev\/md\/backup /m, 'the whole stack of this boot is recorded');
    const refused = cli(['setup', '--answers', answers('/tmp/a-bv-w.toml', 'bv-w', 'layers = ["raid", "luks"]\nmountpoint = "/media/mirror"\n'), '--config', join(etc, 'config.toml'), '--host', 'vmhost']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /a new array cannot be named \/dev\/md\/backup: \/etc\/mdadm\/mdadm.conf records another array/);
    assert.match(refused.stderr, /add-mirror.*delete its ARRAY line/s);
    assert.equal(sh('lsblk', ['-n', '-o', 'NAME', vmDisk('bv-w')]).trim().split('\n').length, 1, 'no partition was made');
    assert.ok(!existsSync(etc), 'no config');
    assert.equal(conf(), before, 'mdadm.conf unchanged');
    // the user retires the whole-stack disk, as the message says
    writeFileSync('/etc/mdadm/mdadm.conf', before.split('\n').filter((l) => !l.startsWith('ARRAY /dev/md/backup ')).join('\n'));
    plainDisk(notes, 'bv-w', ['raid', 'luks'], '/media/mirror');
    assert.equal(conf().split('\n').filter((l) => l.startsWith('ARRAY /dev/md/backup ')).length, 1, 'the new array recorded once');
  }],
  // on disks of their own in the same boot, each on the host as the boot found it
  ...leftovers,
  ...resume,
  ['no ARRAY line, other backup disks attached: open assembles only the array that holds the configured partition; a partition none holds is refused', () => {
    freshHost();
    const conf = existsSync(MDADM_CONF) ? readFileSync(MDADM_CONF, 'utf8') : '';
    assert.doesNotMatch(conf, /^ARRAY \/dev\/md\/backup /m, 'this host records no array under the name');
    const named = new Set(sh('mdadm', ['--examine', '--scan']).split('\n').filter((l) => /name=\S*:backup(\s|$)/.test(l)).map((l) => /UUID=(\S+)/.exec(l)![1]));
    assert.ok(named.size >= 2, `several arrays named backup are attached: ${[...named].join(' ')}`);
    const config = join(ETC_RESUME, 'config.toml');
    const partition = /^partition = "(.*)"$/m.exec(readFileSync(config, 'utf8'))![1]!;
    const ours = /Array UUID : (\S+)/.exec(sh('mdadm', ['--examine', partition]))![1];
    ok(cli(['open', '--config', config]));
    assert.equal(/UUID : (\S+)/.exec(sh('mdadm', ['--detail', '/dev/md/backup']))![1], ours, 'the array of the configured partition');
    assert.deepEqual(tree(join(MP, 'data', 'latest')), tree(DATA));
    ok(cli(['close', '--config', config]));
    // a config (in a root-only folder, as configs must be) naming a partition no array holds
    const stranger = join(ETC_RESUME, 'stranger.toml');
    writeFileSync(stranger, readFileSync(config, 'utf8').replace(/^partition = .*$/m, 'partition = "/dev/disk/by-partlabel/backup-nonesuch"'));
    const refused = cli(['open', '--config', stranger]);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, new RegExp(`carry ${named.size} arrays of that name:[\\s\\S]*nothing was assembled`));
    stackIsDown();
    rmSync(stranger);
  }],
];

/**
 * Setup of a disk with fewer layers, beside the whole stack of this boot (closed), each
 * with its own config; the written config opens it, and a backup lands on it.
 */
function plainDisk(notes: string[], serial: string, layers: string[], mp: string): void {
  const etc = `/bv-out/etc-${serial}`;
  const config = join(etc, 'config.toml');
  const file = answers(`/tmp/a-${serial}.toml`, serial, `layers = ${JSON.stringify(layers)}\nmountpoint = "${mp}"\n`);
  // without LUKS no passphrase is read: its file is not even there
  if (!layers.includes('luks')) rmSync(PASS);
  const out = ok(cli(['setup', '--answers', file, '--config', config, '--host', 'vmhost']));
  const raid = layers.includes('raid');
  assert.match(out, new RegExp(`layers +${['partition', ...layers, 'btrfs'].join(' -> ')}`));
  assert.match(out, new RegExp(`--typecode=1:${raid ? 'fd00' : '8300'} --change-name=1:backup-${serial.replace('-', '')}`));
  assert.doesNotMatch(out, /pvcreate|lvcreate/, 'no volume');
  if (raid) assert.match(out, /mdadm --create \/dev\/md\/backup .*missing[\s\S]*btrfs-vault add-mirror/);
  else assert.doesNotMatch(out, /mdadm|add-mirror/, 'no array');
  if (!layers.includes('luks')) assert.doesNotMatch(out, /cryptsetup/);
  const written = readFileSync(config, 'utf8');
  assert.deepEqual(/^layers = (.*)$/m.exec(written)?.[1]?.replace(/\s/g, ''), JSON.stringify(layers), 'the layers it was asked for');
  assert.ok(readFileSync('/etc/fstab', 'utf8').includes(`/dev/${layers.includes('luks') ? 'mapper/enc-backup' : `disk/by-partlabel/backup-${serial.replace('-', '')}`} ${mp} btrfs noauto`), 'its fstab line');
  assert.equal(sh('lsblk', ['-n', '-o', 'TYPE', vmDisk(serial)]).trim().split('\n').map((t) => t.trim()).join(' '), 'disk part', 'closed: nothing above the partition is open');
  assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes(` ${mp} `), 'not mounted');
  writeFileSync(config, written.replace(/^host = .*$/m, (l) => `${l}\nsources = [{ path = "${DATA}", name = "data" }]\nsnapshot_dir = "${SRC}/snapshots-${serial}"`));
  const t = Date.now();
  const report = JSON.parse(ok(cli(['backup', '--json', '--config', config])));
  assert.equal(report.sources[0].status, 'ok');
  notes.push(`backup ${((Date.now() - t) / 1000).toFixed(1)} s`);
  ok(cli(['open', '--config', config]));
  try {
    assert.equal(sh('findmnt', ['-n', '-o', 'FSTYPE', mp]).trim(), 'btrfs');
    const types = sh('lsblk', ['-n', '-o', 'TYPE', vmDisk(serial)]).trim().split('\n').map((t) => t.trim());
    assert.deepEqual(types.sort(), ['crypt', 'disk', 'part', 'raid1'].filter((t) => ({ crypt: layers.includes('luks'), raid1: raid } as Record<string, boolean>)[t] ?? true), 'open: the layers it was made with');
    assert.deepEqual(tree(join(mp, 'data', 'latest')), tree(DATA));
  } finally {
    ok(cli(['close', '--config', config]));
  }
}

if (!phases[phase!]) throw new Error(`unknown phase ${phase}`);
await runScenarios(phases[phase!]!);
