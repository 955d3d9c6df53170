import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { metaTree } from '../../support/meta-tree.js';
import { cli } from '../../support/cli.js';
import { sh } from '../../support/sh.js';
import { vmDisk, type Scenario } from './support.js';
import {
  answers,
  backupWorks,
  CONFIG,
  DATA,
  diskContents,
  ETC,
  mode,
  MP,
  ok,
  PRODUCTION_KDF,
  source,
  SPEED_MAX,
  SRC,
  stackIsDown,
  withSources,
} from './setup-fixture.js';

// Setup and add-mirror unattended (--answers), as a script would: refusals that change
// nothing, a fresh disk, a second host, a mirror added and a failed one replaced, and a
// rebuilt host that reconnects with only the passphrase and restores.

export const unattendedSetup: Scenario[] = [
  [
    'setup refuses the disk that holds a mounted filesystem',
    () => {
      source();
      const r = cli([
        'setup',
        '--answers',
        answers('/tmp/a-src.toml', 'bv-src'),
        '--config',
        CONFIG,
        '--host',
        'vmhost',
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`holds the mounted filesystem ${SRC}`));
      assert.ok(!existsSync(CONFIG), 'nothing was written');
      assert.ok(!readFileSync('/etc/fstab', 'utf8').includes(MP));
    },
  ],
  [
    'a wrong confirmation changes nothing',
    () => {
      const file = answers('/tmp/a-bad.toml', 'bv-n');
      writeFileSync(file, readFileSync(file, 'utf8').replace('confirm = "bv-n"', 'confirm = "bv-m"'));
      const r = cli(['setup', '--answers', file, '--config', CONFIG, '--host', 'vmhost']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /does not match the disk/);
      assert.equal(
        sh('lsblk', ['-n', '-o', 'NAME', vmDisk('bv-n')])
          .trim()
          .split('\n').length,
        1,
        'no partition was made',
      );
    },
  ],
  [
    'setup --dry-run prints the plan and changes nothing',
    () => {
      const out = ok(
        cli(
          ['setup', '--dry-run', '--answers', answers('/tmp/a.toml', 'bv-n'), '--config', CONFIG, '--host', 'vmhost'],
          PRODUCTION_KDF,
        ),
      );
      assert.match(out, /mdadm --create \/dev\/md\/backup/);
      // cryptsetup's argon2id, capped at 256 MiB so that a small machine can open the disk
      assert.match(
        out,
        /cryptsetup luksFormat --batch-mode --type luks2 --pbkdf-memory 262144 --key-file=- -- \/dev\/md\/backup {3}\(passphrase on stdin\)/,
      );
      assert.match(out, /dry run: nothing was changed/);
      assert.ok(!existsSync(CONFIG) && !existsSync('/dev/md/backup'));
      assert.equal(
        sh('lsblk', ['-n', '-o', 'NAME', vmDisk('bv-n')])
          .trim()
          .split('\n').length,
        1,
        'no partition was made',
      );
    },
  ],
  [
    'a foreign filesystem mounted at the mount point is refused before anything is written',
    () => {
      mkdirSync(MP, { recursive: true });
      sh('mount', [vmDisk('bv-src'), MP]);
      try {
        const r = cli(['setup', '--answers', answers('/tmp/a.toml', 'bv-n'), '--config', CONFIG, '--host', 'vmhost']);
        assert.equal(r.code, 2, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(
            `${MP} already has ${vmDisk('bv-src')} \\(btrfs\\) mounted on it, not this host's backup volume /dev/backup/vmhost`,
          ),
        );
        assert.match(r.stderr, new RegExp(`umount ${MP}.*or choose another mount point`));
      } finally {
        sh('umount', [MP]);
      }
      assert.ok(!existsSync(CONFIG), 'no config');
      assert.equal(
        sh('lsblk', ['-n', '-o', 'NAME', vmDisk('bv-n')])
          .trim()
          .split('\n').length,
        1,
        'no partition was made',
      );
      assert.doesNotMatch(readFileSync('/etc/fstab', 'utf8'), new RegExp(MP));
    },
  ],
  [
    'unattended setup on a fresh disk, then backup',
    (notes) => {
      // half of the disk, so that a second host fits beside it
      const out = ok(
        cli([
          'setup',
          '--answers',
          answers('/tmp/a.toml', 'bv-n', 'size = "480M"\n'),
          '--config',
          CONFIG,
          '--host',
          'vmhost',
        ]),
      );
      assert.match(out, /sgdisk --new=1:0:0 --typecode=1:fd00 --change-name=1:backup-bvn/);
      assert.match(
        out,
        /cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file=- -- \/dev\/md\/backup {3}\(passphrase on stdin\)/,
      );
      assert.doesNotMatch(out, /correct horse/, 'the passphrase is never printed');
      stackIsDown();
      for (const f of ['key', 'token.sha512', 'config.toml']) assert.equal(mode(join(ETC, f)), 0o600, `${f} is 0600`);
      assert.equal(statSync(join(ETC, 'key')).size, 1024);
      const conf = readFileSync('/etc/mdadm/mdadm.conf', 'utf8');
      assert.equal(conf.split('\n').filter((l) => l.startsWith('ARRAY /dev/md/backup')).length, 1, 'one ARRAY line');
      assert.match(conf, /name=any:backup/);
      notes.push(conf.split('\n').find((l) => l.startsWith('ARRAY'))!);
      const fstab = readFileSync('/etc/fstab', 'utf8')
        .split('\n')
        .filter((l) => l.includes(MP));
      assert.deepEqual(fstab, [`/dev/backup/vmhost ${MP} btrfs noauto,compress=zstd 0 0`]);
      withSources(CONFIG);
      backupWorks(CONFIG);
    },
  ],
  [
    'setup --dry-run for a second host on the closed backup disk plans joining it, without assembling anything',
    () => {
      stackIsDown();
      const etc2 = '/bv-out/etc-host2';
      const out = ok(
        cli([
          'setup',
          '--dry-run',
          '--answers',
          answers('/tmp/a2.toml', 'bv-n', `mountpoint = "/media/backup2"\n`),
          '--config',
          join(etc2, 'config.toml'),
          '--host',
          'vmhost2',
        ]),
      );
      assert.match(out, /second host on an existing backup disk/);
      assert.match(out, /mdadm --assemble --run \/dev\/md\/backup \/dev\/disk\/by-partlabel\/backup-bvn/);
      assert.doesNotMatch(out, /luksFormat|sgdisk --zap-all|vgcreate|wipefs/, 'nothing of the disk would be recreated');
      assert.match(out, /dry run: nothing was changed/);
      stackIsDown();
      assert.ok(!existsSync(join(etc2, 'config.toml')));
    },
  ],
  [
    'a second host on the same disk gets its own volume and token',
    () => {
      const etc2 = '/bv-out/etc-host2';
      const out = ok(
        cli([
          'setup',
          '--answers',
          answers('/tmp/a2.toml', 'bv-n', `mountpoint = "/media/backup2"\n`),
          '--config',
          join(etc2, 'config.toml'),
          '--host',
          'vmhost2',
        ]),
      );
      assert.match(out, /second host on an existing backup disk/);
      assert.doesNotMatch(out, /luksFormat|sgdisk --zap-all|vgcreate/, 'nothing of the first host is recreated');
      withSources(join(etc2, 'config.toml'), 'snapshots-host2');
      backupWorks(join(etc2, 'config.toml'));
      backupWorks(CONFIG);
      assert.notEqual(
        readFileSync(join(etc2, 'token.sha512'), 'utf8').slice(0, 128),
        readFileSync(join(ETC, 'token.sha512'), 'utf8').slice(0, 128),
      );
      const conf = readFileSync('/etc/mdadm/mdadm.conf', 'utf8');
      assert.equal(conf.split('\n').filter((l) => l.startsWith('ARRAY')).length, 1, 'still one ARRAY line');
    },
  ],
  [
    'add-mirror: the second disk resyncs to [UU]',
    (notes) => {
      // a dry-run with the array closed still knows its member (from the superblocks)
      stackIsDown();
      const member = cli([
        'add-mirror',
        '--dry-run',
        '--disk',
        '/dev/disk/by-id/virtio-bv-n',
        '--confirm',
        'bv-n',
        '--config',
        CONFIG,
      ]);
      assert.equal(member.code, 2, member.stderr);
      assert.match(member.stderr, /already a member of the array/);
      stackIsDown();
      const out = ok(
        cli(['add-mirror', '--disk', '/dev/disk/by-id/virtio-bv-m', '--confirm', 'bv-m', '--config', CONFIG]),
      );
      assert.match(out, /in sync \[UU\]/);
      const mdstat = readFileSync('/proc/mdstat', 'utf8');
      assert.match(mdstat, /\[2\/2\] \[UU\]/);
      notes.push(
        mdstat
          .split('\n')
          .filter((l) => l.includes('['))
          .join(' | '),
      );
      const opened = JSON.parse(ok(cli(['open', '--json', '--config', CONFIG])));
      assert.match(opened.layers[0].detail, /\[UU\]/);
      // verify on the whole mirror: the newest pair equal, the scrub clean, md's check without mismatches
      const verified = JSON.parse(ok(cli(['verify', '--json', '--config', CONFIG])));
      assert.deepEqual([verified.ok, verified.scrub.csumErrors, verified.mdCheck.mismatches], [true, 0, 0]);
      notes.push(`verify: scrub ${verified.scrub.bytes} bytes, md check ${verified.mdCheck.mismatches} mismatches`);
      ok(cli(['close', '--config', CONFIG]));
    },
  ],
  [
    'a failed member is replaced with add-mirror --no-wait, which returns during the resync',
    async (notes) => {
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
        const out = ok(
          cli([
            'add-mirror',
            '--no-wait',
            '--disk',
            '/dev/disk/by-id/virtio-bv-x',
            '--confirm',
            'bv-x',
            '--config',
            CONFIG,
          ]),
        );
        assert.match(out, /mdadm --manage \/dev\/md\/backup --remove failed/);
        assert.match(out, /goes on in the background/);
        const during = readFileSync('/proc/mdstat', 'utf8');
        notes.push(
          during
            .split('\n')
            .filter((l) => l.includes('['))
            .join(' | '),
        );
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
        assert.match(
          plugged.stderr,
          /the backup disk is not closed: \/dev\/md\/backup is in recover, [\d.]+% done; left running so it can finish .*unplug it once that is done/,
        );
        assert.doesNotMatch(plugged.stderr, /you may unplug it/);
        assert.ok(!existsSync('/dev/mapper/enc-backup'), 'LUKS closed');
        assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(` ${MP} `), 'unmounted');
        assert.match(readFileSync('/proc/mdstat', 'utf8'), /recovery/, 'still recovering');
        notes.push(
          plugged.stderr
            .split('\n')
            .filter((l) => /not closed/.test(l))
            .join(''),
        );
      } finally {
        writeFileSync(SPEED_MAX, '200000');
      }
      const end = Date.now() + 180_000;
      while (
        !/\[2\/2\] \[UU\]/.test(readFileSync('/proc/mdstat', 'utf8')) ||
        /recovery/.test(readFileSync('/proc/mdstat', 'utf8'))
      ) {
        if (Date.now() > end) throw new Error('the resync did not finish');
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.match(sh('mdadm', ['--detail', '/dev/md/backup']), /\/dev\/vd[a-z]1/);
      // whole again: the next unattended run closes the array the last one left running
      const after = cli(['backup', '--on-plug', '--config', CONFIG]);
      assert.equal(after.code, 0, after.stderr);
      assert.match(after.stderr, /the backup disk is closed: you may unplug it/);
      stackIsDown();
    },
  ],
  [
    'bare metal: a rebuilt machine with only the passphrase reconnects to its volume (nothing on the disk is made) and restores',
    (notes) => {
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
      writeFileSync(
        '/etc/fstab',
        readFileSync('/etc/fstab', 'utf8')
          .split('\n')
          .filter((l) => l.split(/\s+/)[1] !== MP)
          .join('\n'),
      );
      writeFileSync(
        '/etc/mdadm/mdadm.conf',
        readFileSync('/etc/mdadm/mdadm.conf', 'utf8')
          .split('\n')
          .filter((l) => !l.startsWith('ARRAY'))
          .join('\n'),
      );
      rmSync('/var/lib/btrfs-vault', { recursive: true, force: true });
      // the new machine: an empty btrfs for the restore
      sh('mkfs.btrfs', ['-q', '-f', vmDisk('bv-t')]);
      mkdirSync('/mnt/new', { recursive: true });
      sh('mount', [vmDisk('bv-t'), '/mnt/new']);

      const out = ok(
        cli(['setup', '--answers', answers('/tmp/a-re.toml', 'bv-n'), '--config', CONFIG, '--host', 'vmhost']),
      );
      const box = out.replace(/[│╭╮╰╯─]/g, ' ').replace(/\s+/g, ' ');
      assert.match(box, /mode reconnect: this host's volume is on the disk already/);
      assert.match(box, /Nothing on the disk is changed: no volume, filesystem or backup is made or touched/);
      assert.match(box, new RegExp(`backups data \\(${DATA}\\), latest \\d{4}-`));
      assert.match(box, /the passphrase that opened the disk is the proof it is yours/);
      assert.doesNotMatch(
        out,
        /luksFormat|sgdisk|wipefs|pvcreate|vgcreate|lvcreate|mkfs/,
        'nothing of the disk is made',
      );
      assert.doesNotMatch(out, /correct horse/, 'the passphrase is never printed');
      assert.match(out, /btrfs-vault restore data --to DIR/);
      stackIsDown();
      assert.equal(
        readFileSync(join(ETC, 'token.sha512'), 'utf8').slice(0, 128),
        oldHash,
        'the token on the volume is the one kept',
      );
      for (const f of ['key', 'token.sha512', 'config.toml']) assert.equal(mode(join(ETC, f)), 0o600, `${f} is 0600`);

      // as the README says: restore by the backup folder's name, no source configured yet
      const restored = JSON.parse(ok(cli(['restore', 'data', '--to', '/mnt/new', '--json', '--config', CONFIG])));
      assert.equal(restored.how, 'full');
      assert.equal(restored.source, DATA, "the path it was backed up from, from the folder's owner file");
      assert.deepEqual(
        metaTree(restored.restored),
        want,
        'the restored tree equals the original: contents, modes, owners, times, xattrs, links',
      );
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
    },
  ],
];
