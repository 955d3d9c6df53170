import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArrayLines, parseMdstat } from '../../src/core/mdstat.js';
import { describeArray } from '../../src/stack/raid.js';

test('mdstat recorded in the test VM after a reboot: the degraded mirror, udev-assembled', () => {
  const [md] = parseMdstat(readFileSync(join(process.cwd(), 'test/fixtures/mdstat-degraded-after-reboot.txt'), 'utf8'));
  assert.deepEqual(md, { name: 'md127', active: true, level: 'raid1', members: ['vda1[0]'], wanted: 2, present: 1, map: '[U_]' });
  assert.equal(describeArray('/dev/md/backup', md), '/dev/md/backup (md127) active, [U_] degraded: 1 of 2 mirrors, members: vda1[0]');
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
  const lines = parseArrayLines('ARRAY /dev/md/backup  metadata=1.2 UUID=2f0e7d1c:6b9a4e51:8c3d2a10:5e4f3b21 name=(none):backup\n');
  assert.deepEqual(lines, [{ device: '/dev/md/backup', uuid: '2f0e7d1c:6b9a4e51:8c3d2a10:5e4f3b21', name: '(none):backup' }]);
});
