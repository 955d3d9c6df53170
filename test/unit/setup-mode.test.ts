import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assessDisk, type BlockDevice } from '../../src/core/eligibility.js';
import { decideMode } from '../../src/flows/setup/setup-mode.js';
import { FakeRunner } from '../support/fake-runner.js';
import type { Argv, RunOptions } from '../../src/system/runner.js';

// Which setup this is: decided before anything is written, from the disk and the passphrase.

const part = (fstype: string | null): BlockDevice => ({
  name: 'sdz1',
  path: '/dev/sdz1',
  type: 'part',
  size: 2 ** 31,
  ro: false,
  rm: false,
  tran: null,
  model: null,
  serial: null,
  fstype,
  partlabel: 'backup-z',
  mountpoints: [null],
  'log-sec': 512,
});
const disk = (child?: BlockDevice): BlockDevice => ({
  name: 'sdz',
  path: '/dev/sdz',
  type: 'disk',
  size: 2 ** 31,
  ro: false,
  rm: false,
  tran: 'usb',
  model: 'M',
  serial: 'Z1',
  fstype: null,
  mountpoints: [null],
  'log-sec': 512,
  ...(child ? { children: [child] } : {}),
});
const survey = (d: BlockDevice) => ({
  devices: [d],
  disks: [assessDisk(d, { minBytes: 2 ** 30, protectedMounts: ['/'], byId: {} })],
});
// the array "exists" (so nothing is assembled; its superblocks name it "null"), and the probe's mapping does not
const names = { array: '/dev/null', luksName: 'bv-unit-test-none', volumeGroup: 'backup', tokenName: '.token' };
const examine: Argv = ['mdadm', ['--examine', '/dev/sdz1']];
const testPass: Argv = ['cryptsetup', ['open', '--test-passphrase', '--key-file=-', '--', '/dev/null']];

class InputRecorder extends FakeRunner {
  readonly inputs: string[] = [];
  private record(o?: RunOptions) {
    if (typeof o?.input === 'string') this.inputs.push(o.input);
  }
  override async query(argv: Argv, o?: RunOptions) {
    this.record(o);
    return super.query(argv, o);
  }
  override async run(argv: Argv, o?: RunOptions) {
    this.record(o);
    return super.run(argv, o);
  }
}

type Extra = Partial<Pick<Parameters<typeof decideMode>[1], 'resumed' | 'layers'>>;
const decide = (runner: FakeRunner, d: BlockDevice, extra: Extra = {}) =>
  decideMode(runner, {
    survey: survey(d),
    disk: survey(d).disks[0]!,
    host: 'deimos',
    layers: ['raid', 'luks', 'lvm'],
    names,
    askPassphrase: async () => 'correct horse',
    ...extra,
  });

test('an empty disk is a new disk; a disk with something on it needs a wipe; nothing is run or asked', async () => {
  const runner = new FakeRunner();
  assert.deepEqual(await decide(runner, disk()), { mode: 'new-disk', needsWipe: false });
  assert.deepEqual(await decide(runner, disk(part('ext4'))), { mode: 'new-disk', needsWipe: true });
  assert.deepEqual(runner.calls, []);
});

test('without the whole stack, a backup array found on the disk is not joined: it is wiped, and no passphrase is asked for it', async () => {
  for (const layers of [[], ['luks'], ['raid', 'luks'], ['luks', 'lvm']] as const) {
    const runner = new InputRecorder().on(examine, { stdout: '           Name : any:null\n' });
    const d = await decide(runner, disk(part('linux_raid_member')), { layers });
    assert.equal(d.mode, 'new-disk', layers.join());
    assert.equal(d.needsWipe, true);
    assert.equal(d.found?.path, '/dev/sdz1', 'found, so a running array is stopped before the wipe');
    assert.equal(d.member, undefined);
    assert.equal(d.passphrase, undefined);
    assert.deepEqual(runner.changes, []);
    assert.deepEqual(runner.inputs, []);
  }
});

test('a resumed setup keeps its mode and looks at nothing', async () => {
  const runner = new FakeRunner();
  const resumed = {
    disk: '/dev/sdz',
    serial: 'Z1',
    label: 'backup-z',
    host: 'deimos',
    mode: 'reconnect' as const,
    done: ['assemble'],
  };
  assert.deepEqual(await decide(runner, disk(part('linux_raid_member')), { resumed }), {
    mode: 'reconnect',
    needsWipe: false,
  });
  assert.deepEqual(runner.calls, []);
});

test("a backup array the passphrase does not open is someone else's old disk: only a wipe may reuse it", async () => {
  const runner = new InputRecorder()
    .on(examine, { stdout: '           Name : any:null\n' })
    .on(testPass, { exitCode: 2 });
  const d = await decide(runner, disk(part('linux_raid_member')));
  assert.equal(d.mode, 'new-disk');
  assert.equal(d.needsWipe, true);
  assert.equal(d.member, undefined);
  assert.deepEqual(runner.changes, []);
  assert.deepEqual(runner.inputs, ['correct horse'], 'the passphrase only ever on stdin');
});

test('opened, without a volume for this host: a second host; the look inside is closed again', async () => {
  const runner = new InputRecorder()
    .on(examine, { stdout: '           Name : any:null\n' })
    .on(testPass)
    .on(['cryptsetup', ['open', '--type', 'luks', '--key-file=-', '--', '/dev/null', 'bv-unit-test-none']])
    .on(['udevadm', ['settle']])
    .on(['lvs', ['--noheadings', '-o', 'lv_name', '--', 'backup']], { stdout: '  phobos\n' })
    .on(['vgchange', ['--activate', 'n', '--', 'backup']])
    .on(['cryptsetup', ['close', '--', 'bv-unit-test-none']]);
  const d = await decide(runner, disk(part('linux_raid_member')));
  assert.equal(d.mode, 'second-host');
  assert.equal(d.member?.path, '/dev/sdz1');
  assert.equal(d.existing, undefined);
  assert.deepEqual(runner.changes, [
    'cryptsetup open --type luks --key-file=- -- /dev/null bv-unit-test-none',
    'udevadm settle',
    'vgchange --activate n -- backup',
    'cryptsetup close -- bv-unit-test-none',
  ]);
  assert.deepEqual(runner.inputs, ['correct horse', 'correct horse']);
});
