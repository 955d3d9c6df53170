import { test } from 'node:test';
import assert from 'node:assert/strict';
import { damagedStripes, parseLogicalResolve } from '../../src/core/scrub-log.js';

// Recorded on Linux 6.18 (btrfs-progs 6.2): a scrub of loop0 with one damaged block,
// interleaved with another filesystem's (loop3), and the older kernels' form.
const LOG = [
  '[  367.215182] BTRFS info (device loop0): scrub: started on devid 1',
  '[  367.216364] BTRFS error (device loop0): scrub: unable to fixup (regular) error at logical 13631488 on dev /dev/loop0 physical 13631488',
  '[  367.219130] BTRFS warning (device loop0): scrub: checksum error at logical 13631488 on dev /dev/loop0, physical 13631488 root 257 inode 257 offset 0 length 4096 links 1 (path: sparse)',
  '[  367.219138] BTRFS warning (device loop3): scrub: checksum error at logical 13893632 on dev /dev/loop3, physical 13893632 root 5 inode 258 offset 0 length 4096 links 1 (path: elsewhere.bin)',
  '[  367.219141] BTRFS error (device loop0): bdev /dev/loop0 errs: wr 0, rd 0, flush 0, corrupt 1, gen 0',
  '[  368.100000] BTRFS warning (device dm-3 state EA): checksum error at logical 30539776 on dev /dev/mapper/backup-host, physical 38928384, root 256, inode 257, offset 0, length 4096, links 1 (path: big.bin)',
  '[  368.150000] BTRFS error (device loop0): scrub: fixed up error at logical 20971520 on dev /dev/loop0 physical 20971520',
  '[  368.200000] BTRFS warning (device loop0): csum failed root 257 ino 258 off 0 csum 0x2d3768fd expected csum 0xfefa705f mirror 1',
];

test("scrub log: only this filesystem's lines, by the kernel's name of the device or its path; each stripe once", () => {
  assert.deepEqual(damagedStripes(LOG, { kernelName: 'loop0', paths: ['/dev/loop0'] }), [13631488]);
  assert.deepEqual(damagedStripes(LOG, { kernelName: 'loop3', paths: [] }), [13893632]);
  assert.deepEqual(damagedStripes(LOG, { kernelName: 'dm-3', paths: ['/dev/mapper/backup-host'] }), [30539776]);
  assert.deepEqual(
    damagedStripes(LOG, { kernelName: 'dm-9', paths: ['/dev/mapper/backup-host'] }),
    [30539776],
    'the path alone suffices',
  );
  assert.deepEqual(damagedStripes(LOG, { kernelName: 'loop1', paths: ['/dev/loop1'] }), []);
});

test('logical-resolve -P: inode, offset and subvolume of each block', () => {
  assert.deepEqual(parseLogicalResolve('inode 258 offset 0 root 257\ninode 258 offset 0 root 256\n'), [
    { inode: 258, offset: 0, root: 257 },
    { inode: 258, offset: 0, root: 256 },
  ]);
  assert.deepEqual(parseLogicalResolve('ERROR: logical ino ioctl: No such file or directory\n'), []);
});

test('scrub damage: a block that reads back failing names its files exactly; a stripe whose blocks all read back well names its files as "one of"', async () => {
  const { FakeRunner } = await import('../support/fake-runner.js');
  const { scrubDamage } = await import('../../src/flows/inspect/scrub-damage.js');
  const mount = {
    device: '0:50',
    root: '/',
    mountPoint: '/mnt/b',
    fsType: 'btrfs',
    source: '/dev/loop7',
    options: 'rw',
    readOnly: false,
  };
  const listing = [{ path: '/mnt/b/src/2026-01-01_00-00-00', name: '2026-01-01_00-00-00', id: 257, uuid: 'u', gen: 1 }];
  const log = [
    '[ 1.0] BTRFS warning (device loop7): scrub: checksum error at logical 1048576 on dev /dev/loop7, physical 1048576 root 257 inode 257 offset 0 length 4096 links 1 (path: first)',
    '[ 1.1] BTRFS warning (device loop7): scrub: checksum error at logical 2097152 on dev /dev/loop7, physical 2097152 root 257 inode 300 offset 0 length 4096 links 1 (path: c)',
    '[ 1.2] BTRFS warning (device loop8): scrub: checksum error at logical 3145728 on dev /dev/loop8, physical 3145728 root 5 inode 257 offset 0 length 4096 links 1 (path: other)',
  ];
  const r = new FakeRunner();
  const resolve = (l: number) =>
    ['btrfs', ['inspect-internal', 'logical-resolve', '-P', '--', String(l), '/mnt/b']] as const;
  for (let l = 1048576; l < 1048576 + 65536; l += 4096) r.on(resolve(l), { exitCode: 1 });
  for (let l = 2097152; l < 2097152 + 65536; l += 4096) r.on(resolve(l), { exitCode: 1 });
  // stripe 1: block 0 is "first" (reads well), block 1 is "marker" (fails)
  r.on(resolve(1048576), { stdout: 'inode 257 offset 0 root 257\n' });
  r.on(resolve(1048576 + 4096), { stdout: 'inode 258 offset 8192 root 257\n' });
  r.on(['btrfs', ['inspect-internal', 'inode-resolve', '--', '257', '/mnt/b/src/2026-01-01_00-00-00']], {
    stdout: '/mnt/b/src/2026-01-01_00-00-00/first\n',
  });
  r.on(['btrfs', ['inspect-internal', 'inode-resolve', '--', '258', '/mnt/b/src/2026-01-01_00-00-00']], {
    stdout: '/mnt/b/src/2026-01-01_00-00-00/marker\n',
  });
  r.on([
    'dd',
    [
      'if=/mnt/b/src/2026-01-01_00-00-00/first',
      'of=/dev/null',
      'iflag=direct',
      'bs=4096',
      'skip=0',
      'count=1',
      'status=none',
    ],
  ]);
  r.on(
    [
      'dd',
      [
        'if=/mnt/b/src/2026-01-01_00-00-00/marker',
        'of=/dev/null',
        'iflag=direct',
        'bs=4096',
        'skip=2',
        'count=1',
        'status=none',
      ],
    ],
    { exitCode: 1, stderr: "dd: error reading '/mnt/b/…/marker': Input/output error\n" },
  );
  // stripe 2: two files, both read back well (compressed, or repaired from a mirror)
  r.on(resolve(2097152), { stdout: 'inode 300 offset 0 root 257\n' });
  r.on(resolve(2097152 + 8192), { stdout: 'inode 301 offset 0 root 257\n' });
  r.on(['btrfs', ['inspect-internal', 'inode-resolve', '--', '300', '/mnt/b/src/2026-01-01_00-00-00']], {
    stdout: '/mnt/b/src/2026-01-01_00-00-00/c\n',
  });
  r.on(['btrfs', ['inspect-internal', 'inode-resolve', '--', '301', '/mnt/b/src/2026-01-01_00-00-00']], {
    stdout: '/mnt/b/src/2026-01-01_00-00-00/new\nline\n',
  });
  r.on([
    'dd',
    [
      'if=/mnt/b/src/2026-01-01_00-00-00/c',
      'of=/dev/null',
      'iflag=direct',
      'bs=4096',
      'skip=0',
      'count=1',
      'status=none',
    ],
  ]);
  r.on([
    'dd',
    [
      'if=/mnt/b/src/2026-01-01_00-00-00/new\nline',
      'of=/dev/null',
      'iflag=direct',
      'bs=4096',
      'skip=0',
      'count=1',
      'status=none',
    ],
  ]);
  const d = await scrubDamage(r, mount, log, listing);
  assert.deepEqual(d.files, ['/mnt/b/src/2026-01-01_00-00-00/marker']);
  assert.equal(d.stripes, 2, 'loop8 is another filesystem');
  assert.deepEqual(
    d.oneOf,
    ['/mnt/b/src/2026-01-01_00-00-00/c', '/mnt/b/src/2026-01-01_00-00-00/new\\nline'],
    'a name with a newline is one name, escaped',
  );
  assert.ok(
    !d.oneOf.includes('/mnt/b/src/2026-01-01_00-00-00/first'),
    'a stripe with a block found damaged names no guesses',
  );
});
