import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArrayLines, parseMdstat } from '../../src/core/mdstat.js';
import { describeArray } from '../../src/stack/raid.js';

test('mdstat recorded in the test VM after a reboot: the degraded mirror, udev-assembled', () => {
  const [md] = parseMdstat(readFileSync(join(process.cwd(), 'test/fixtures/mdstat-degraded-after-reboot.txt'), 'utf8'));
  assert.deepEqual(md, {
    name: 'md127',
    active: true,
    level: 'raid1',
    members: ['vda1[0]'],
    wanted: 2,
    present: 1,
    map: '[U_]',
  });
  assert.equal(
    describeArray('/dev/md/backup', md),
    '/dev/md/backup (md127) active, [U_] degraded: 1 of 2 mirrors, members: vda1[0]',
  );
});

test('mdstat: a resyncing mirror and an inactive array', () => {
  const text = `Personalities : [raid1]
md127 : active raid1 vdb1[2] vda1[0]
      1046464 blocks super 1.2 [2/1] [U_]
      [=====>...............]  recovery = 27.5% (288000/1046464) finish=0.3min speed=41142K/sec
      bitmap: 1/1 pages [4KB], 65536KB chunk

md126 : inactive vdc1[1](S)
      1046464 blocks super 1.2

unused devices: <none>
`;
  const [a, b] = parseMdstat(text);
  assert.deepEqual(a!.sync, { action: 'recovery', percent: 27.5, finish: '0.3min', speed: '41142K/sec' });
  assert.match(describeArray('/dev/md/backup', a), /recovery 27\.5%, 0\.3min left/);
  assert.equal(b!.active, false);
  assert.equal(describeArray('/dev/md/backup', undefined), '/dev/md/backup is not assembled');
});

test('ARRAY lines: device, uuid, name', () => {
  const lines = parseArrayLines(
    'ARRAY /dev/md/backup  metadata=1.2 UUID=2f0e7d1c:6b9a4e51:8c3d2a10:5e4f3b21 name=(none):backup\n',
  );
  assert.deepEqual(lines, [
    { device: '/dev/md/backup', uuid: '2f0e7d1c:6b9a4e51:8c3d2a10:5e4f3b21', name: '(none):backup' },
  ]);
});

test('mdadm map and the two spellings of an array UUID (recorded in the test VM)', async () => {
  const { parseMdadmMap, sameArrayUuid } = await import('../../src/core/mdstat.js');
  assert.deepEqual(parseMdadmMap('md127 1.2 f3940f7c:586f2c70:3982c9f9:b6a18785 /dev/md/backup\n'), [
    { kernelName: 'md127', uuid: 'f3940f7c:586f2c70:3982c9f9:b6a18785', path: '/dev/md/backup' },
  ]);
  assert.ok(sameArrayUuid('7c0f94f3-702c-6f58-f9c9-82398587a1b6\n', 'f3940f7c:586f2c70:3982c9f9:b6a18785'));
  assert.ok(!sameArrayUuid('7c0f94f3-702c-6f58-f9c9-82398587a1b7', 'f3940f7c:586f2c70:3982c9f9:b6a18785'));
});

test('a degraded mirror names what is not mirroring: failed, left out (stale), not attached', async () => {
  const { parseExamineVerbose, parseMember, parseRaidMembers } = await import('../../src/core/mdstat.js');
  // mdadm --examine --scan --verbose in the test VM, after a pulled-out member came back
  const scan =
    'ARRAY /dev/md/backup  level=raid1 metadata=1.2 num-devices=2 UUID=dacd1146:4bb479d4:8931fabd:55b881e6 name=any:backup\n   devices=/dev/vdb1,/dev/vda1\n';
  assert.deepEqual(parseExamineVerbose(scan), [
    { uuid: 'dacd1146:4bb479d4:8931fabd:55b881e6', name: 'any:backup', devices: ['/dev/vdb1', '/dev/vda1'] },
  ]);
  assert.deepEqual(parseMember('vdd1[1](F)'), { device: 'vdd1', failed: true });
  const lsblk =
    '{"blockdevices":[{"path":"/dev/vda","fstype":null,"uuid":null},{"path":"/dev/vda1","fstype":"linux_raid_member","uuid":"7c0f94f3-702c-6f58-f9c9-82398587a1b6"},{"path":"/dev/md127","fstype":"crypto_LUKS","uuid":"x"}]}';
  assert.deepEqual(parseRaidMembers(lsblk), [{ path: '/dev/vda1', uuid: '7c0f94f3-702c-6f58-f9c9-82398587a1b6' }]);
  assert.deepEqual(parseRaidMembers('not json'), []);
  assert.deepEqual(parseMember('vda1[0]'), { device: 'vda1', failed: false });
  const md = parseMdstat(
    readFileSync(join(process.cwd(), 'test/fixtures/mdstat-degraded-after-reboot.txt'), 'utf8'),
  )[0]!;
  const leftOut = describeArray('/dev/md/backup', md, {
    failed: [],
    leftOut: ['vdb1 (/dev/disk/by-id/virtio-bv-m2)'],
    missing: 0,
  });
  assert.match(
    leftOut,
    /left out: vdb1 \(\/dev\/disk\/by-id\/virtio-bv-m2\) \(a stale copy; put it back: mdadm --manage \/dev\/md\/backup --re-add \/dev\/vdb1/,
  );
  assert.match(
    describeArray('/dev/md/backup', md, { failed: [], leftOut: [], missing: 1 }),
    /missing: 1 member, not attached/,
  );
  assert.match(
    describeArray('/dev/md/backup', md, { failed: ['vdb1 (/dev/disk/by-id/virtio-bv-m2)'], leftOut: [], missing: 0 }),
    /failed: vdb1 .*add-mirror/,
  );
});
