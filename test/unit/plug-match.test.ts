import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blkidUuid, plugMatch, scheduleFiles } from '../../src/flows/schedule/schedule.js';
import { FakeRunner } from '../support/fake-runner.js';

// The on-plug rule names the backup disk by the UUID at the bottom of its stack, never a label pattern.

const target = {
  array: '/dev/md/none-bv-unit',
  partition: '/dev/disk/by-partlabel/backup-unit',
  mountpoint: '/media/unit',
};

test("mdadm's four-word array UUID in udev's 8-4-4-4-12 form; anything else is not one", () => {
  assert.equal(blkidUuid('3F1D2A4B:5c6d7e8f:90a1b2c3:d4e5f6a7'), '3f1d2a4b-5c6d-7e8f-90a1-b2c3d4e5f6a7');
  assert.equal(blkidUuid('3f1d2a4b:5c6d7e8f:90a1b2c3'), undefined);
  assert.equal(blkidUuid('not:a:uuid:at-all'), undefined);
});

test('LUKS on the partition: its UUID read from the attached partition, and the rule matches it exactly', async () => {
  const runner = new FakeRunner().on(['lsblk', ['-dno', 'UUID', '--', target.partition]], {
    stdout: 'c0ffee00-1111-2222-3333-444455556666\n',
  });
  const plug = await plugMatch(runner, { ...target, layers: ['luks'] });
  assert.deepEqual(plug, { key: 'ID_FS_UUID', value: 'c0ffee00-1111-2222-3333-444455556666' });
  const rule = scheduleFiles({
    configFile: '/etc/bv/c.toml',
    every: 'daily',
    plugs: [{ match: plug }],
    program: ['/usr/bin/node', '/bv.js'],
    root: '/',
  }).find((f) => f.path.endsWith('.rules'))!;
  assert.match(rule.text, /ENV\{ID_FS_UUID\}=="c0ffee00-1111-2222-3333-444455556666"/);
  assert.doesNotMatch(rule.text, /\*/, 'no pattern');
  assert.deepEqual(runner.changes, [], 'reads only');
});

test('a plain disk not attached: the UUID of what is mounted at the mount point, never the filesystem around it', async () => {
  const runner = new FakeRunner()
    .on(['lsblk', ['-dno', 'UUID', '--', target.partition]], { exitCode: 32 })
    .on(['findmnt', ['-no', 'UUID', '--mountpoint', target.mountpoint]], { stdout: 'abcd-plain\n' });
  assert.deepEqual(await plugMatch(runner, { ...target, layers: [] }), { key: 'ID_FS_UUID', value: 'abcd-plain' });
  const none = new FakeRunner()
    .on(['lsblk', ['-dno', 'UUID', '--', target.partition]], { exitCode: 32 })
    .on(['findmnt', ['-no', 'UUID', '--mountpoint', target.mountpoint]], { exitCode: 1 });
  assert.equal(await plugMatch(none, { ...target, layers: [] }), undefined);
  // with LUKS the mount point says nothing about the partition: not asked
  const luks = new FakeRunner().on(['lsblk', ['-dno', 'UUID', '--', target.partition]], { exitCode: 32 });
  assert.equal(await plugMatch(luks, { ...target, layers: ['luks'] }), undefined);
});
