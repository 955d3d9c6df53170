import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeFstabField, parseFstab } from '../../src/core/fstab.js';
import { mountPointProblem, mountPointUse } from '../../src/stack/mount-point.js';
import type { Runner } from '../../src/system/runner.js';

const spec = { mountpoint: '/media/backup', device: '/dev/backup/deimos' };

test('fstab: comments, blank lines, escaped spaces', () => {
  const entries = parseFstab(
    '# /etc/fstab\n\nUUID=abc / ext4 defaults 0 1\n/dev/backup/deimos /media/my\\040backup btrfs noauto 0 0 # mine\n',
  );
  assert.deepEqual(entries, [
    { device: 'UUID=abc', mountPoint: '/', fsType: 'ext4', options: 'defaults' },
    { device: '/dev/backup/deimos', mountPoint: '/media/my backup', fsType: 'btrfs', options: 'noauto' },
  ]);
  assert.equal(escapeFstabField('/media/my backup'), '/media/my\\040backup');
});

test('mount point: a foreign filesystem mounted there is refused with the umount fix', () => {
  const mounted = {
    device: '0:42',
    root: '/',
    mountPoint: '/media/backup',
    fsType: 'ext4',
    source: '/dev/sdc1',
    options: 'rw',
    readOnly: false,
  };
  const p = mountPointProblem({ mounted, mountedIsOurs: false, fstab: [] }, spec);
  assert.match(
    p!.message,
    /already has \/dev\/sdc1 \(ext4\) mounted on it, not this host's backup volume \/dev\/backup\/deimos/,
  );
  assert.match(p!.fix, /umount \/media\/backup/);
  assert.match(p!.fix, /another mount point/);
  assert.equal(mountPointProblem({ mounted, mountedIsOurs: true, fstab: [] }, spec), undefined);
});

test('mount point: an fstab line naming another device is refused; the line setup writes is ours', () => {
  const line = (device: string, ours: boolean) => ({
    entry: { device, mountPoint: '/media/backup', fsType: 'btrfs', options: 'noauto' },
    ours,
  });
  const p = mountPointProblem({ mountedIsOurs: false, fstab: [line('LABEL=photos', false)] }, spec);
  assert.match(p!.message, /line for \/media\/backup that names LABEL=photos/);
  assert.match(p!.fix, /remove or change that line/);
  assert.equal(mountPointProblem({ mountedIsOurs: false, fstab: [line('/dev/backup/deimos', true)] }, spec), undefined);
});

test('mount point use on this machine: / is mounted from a device that is not the volume', async () => {
  // findfs answers "not found" for whatever UUID= or LABEL= this machine's fstab has for /
  const runner = { query: async () => ({ stdout: '', stderr: '', exitCode: 1 }) } as unknown as Runner;
  const use = await mountPointUse(runner, { ...spec, mountpoint: '/' });
  assert.ok(use.mounted, 'something is mounted at /');
  assert.equal(use.mountedIsOurs, false);
  assert.ok(mountPointProblem(use, { ...spec, mountpoint: '/' }));
});
