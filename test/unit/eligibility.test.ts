import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assessDisk, confirmationWords, type BlockDevice } from '../../src/core/eligibility.js';

const GiB = 1024 ** 3;
function disk(over: Partial<BlockDevice> = {}, children: BlockDevice[] = []): BlockDevice {
  return {
    name: 'sdb',
    path: '/dev/sdb',
    type: 'disk',
    size: 500 * GiB,
    ro: false,
    rm: false,
    tran: 'usb',
    model: 'Backup Disk',
    serial: 'WD-123456',
    fstype: null,
    mountpoints: [null],
    'log-sec': 512,
    children,
    ...over,
  };
}
function part(path: string, over: Partial<BlockDevice> = {}, children: BlockDevice[] = []): BlockDevice {
  return { ...disk({ name: path.slice(5), path, type: 'part', size: 499 * GiB, ...over }), children };
}
const ctx = {
  minBytes: GiB,
  protectedMounts: ['/', '/boot', '/etc'],
  byId: { '/dev/sdb': '/dev/disk/by-id/usb-WD_Backup_Disk_WD-123456' },
};

// constructed lsblk states -> allowed or refused, with the reason the user sees
const table: [string, BlockDevice, string | null][] = [
  ['an empty disk', disk(), null],
  [
    'the disk of /',
    disk({}, [part('/dev/sdb1', { fstype: 'ext4', mountpoints: ['/'] })]),
    'holds / (/dev/sdb1), which this system runs from',
  ],
  [
    'a mounted filesystem',
    disk({}, [part('/dev/sdb1', { fstype: 'ext4', mountpoints: ['/mnt/x'] })]),
    'holds the mounted filesystem /mnt/x (/dev/sdb1)',
  ],
  [
    'a mount through LUKS and LVM',
    disk({}, [
      part('/dev/sdb1', { fstype: 'crypto_LUKS' }, [
        disk({ name: 'c', path: '/dev/mapper/c', type: 'crypt', fstype: 'LVM2_member' }, [
          disk({ name: 'v', path: '/dev/mapper/vg-home', type: 'lvm', fstype: 'ext4', mountpoints: ['/home'] }),
        ]),
      ]),
    ]),
    'holds the mounted filesystem /home (/dev/mapper/vg-home)',
  ],
  [
    'active swap',
    disk({}, [part('/dev/sdb2', { fstype: 'swap', mountpoints: ['[SWAP]'] })]),
    '/dev/sdb2 is active swap',
  ],
  [
    'a member of a running array',
    disk({}, [
      part('/dev/sdb1', { fstype: 'linux_raid_member' }, [disk({ name: 'md0', path: '/dev/md0', type: 'raid1' })]),
    ]),
    'member of the running array /dev/md0',
  ],
  [
    'an open LUKS mapping',
    disk({}, [
      part('/dev/sdb1', { fstype: 'crypto_LUKS' }, [disk({ name: 'x', path: '/dev/mapper/x', type: 'crypt' })]),
    ]),
    'holds the open LUKS mapping /dev/mapper/x',
  ],
  [
    'an active LVM volume',
    disk({}, [
      part('/dev/sdb1', { fstype: 'LVM2_member' }, [disk({ name: 'l', path: '/dev/mapper/vg-l', type: 'lvm' })]),
    ]),
    'holds the active LVM volume /dev/mapper/vg-l',
  ],
  ['a read-only device', disk({ ro: true }), 'read-only device'],
  ['a disk too small', disk({ size: 512 * 1024 ** 2 }), 'too small: 512.0 MiB, a backup disk needs at least 1.00 GiB'],
];

for (const [name, dev, reason] of table) {
  test(`eligibility: ${name}`, () => {
    const a = assessDisk(dev, ctx);
    assert.equal(a.eligible, reason === null, a.reasons.join('; '));
    if (reason) assert.ok(a.reasons.includes(reason), `${JSON.stringify(a.reasons)} includes ${reason}`);
  });
}

test('eligibility: old signatures are listed, not refused; the own stack is not held against a resumed setup', () => {
  const old = disk({}, [part('/dev/sdb1', { fstype: 'linux_raid_member', partlabel: 'backup' })]);
  const a = assessDisk(old, ctx);
  assert.ok(a.eligible);
  assert.deepEqual(a.signatures, ['a partition table with 1 partition', '/dev/sdb1: an mdadm RAID member']);
  const running = disk({}, [
    part('/dev/sdb1', { fstype: 'linux_raid_member' }, [
      disk({ name: 'md127', path: '/dev/md127', type: 'raid1' }, [
        disk({ name: 'e', path: '/dev/mapper/enc-backup', type: 'crypt' }),
      ]),
    ]),
  ]);
  assert.ok(!assessDisk(running, ctx).eligible);
  assert.ok(
    assessDisk(running, {
      ...ctx,
      ours: { devices: ['/dev/md127', '/dev/mapper/enc-backup'], mounts: ['/media/backup'] },
    }).eligible,
  );
});

test('confirmation: the serial or the last part of the by-id name; nothing for a disk without either', () => {
  const a = assessDisk(disk(), ctx);
  assert.deepEqual(confirmationWords(a), ['WD-123456', 'WD-123456']);
  assert.deepEqual(confirmationWords({ serial: '', byId: undefined }), []);
});
