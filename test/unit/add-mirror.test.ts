import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TargetConfig, VaultConfig } from '../../src/config/config.js';
import { LSBLK_COLUMNS, type BlockDevice, type DiskAssessment } from '../../src/core/eligibility.js';
import { CommandFailedError, LockedError, UserError } from '../../src/core/errors.js';
import { addMirror, type MirrorQuestions } from '../../src/flows/setup/add-mirror.js';
import { DryRunRunner } from '../../src/system/dry-run-runner.js';
import { FakeRunner } from '../support/fake-runner.js';
import type { Argv, Runner } from '../../src/system/runner.js';
import { join } from 'node:path';
import { ExecRunner } from '../../src/system/exec-runner.js';
import { acquireLocks } from '../../src/system/lock.js';
import { targetLockKey } from '../../src/flows/session/target-session.js';
import { scratchDir } from '../support/scratch.js';

// add-mirror with the fake runner: everything before the confirmation only reads; the
// stopped array is assembled as the first change after it.

const ARRAY = '/dev/md/bv-unit-none'; // no such array here: it is stopped, and no ARRAY line names it
const UUID = 'dacd1146:4bb479d4:8931fabd:55b881e6';
const target: TargetConfig = {
  mountpoint: '/media/bv-unit-none',
  layers: ['raid', 'luks', 'lvm'],
  tokenFile: '/media/bv-unit-none/.token',
  tokenHashFile: '/etc/bv/token.sha512',
  array: ARRAY,
  luksName: 'bv-unit-none',
  keyfile: '/etc/bv/key',
  volumeGroup: 'bv-unit-none',
  logicalVolume: 'deimos',
  device: '/dev/bv-unit-none/deimos',
  partition: '/dev/disk/by-partlabel/backup-m1',
};
const config = (t: Partial<TargetConfig> = {}): VaultConfig => ({
  file: '/etc/bv/config.toml',
  dir: '/etc/bv',
  host: 'deimos',
  snapshotDir: '',
  sources: [],
  sourcesFromFile: [],
  target: { ...target, ...t },
});

const dev = (name: string, serial: string, children: BlockDevice[] = []): BlockDevice => ({
  name,
  path: `/dev/${name}`,
  type: 'disk',
  size: 2 ** 40,
  ro: false,
  rm: false,
  tran: 'usb',
  model: 'M',
  serial,
  fstype: null,
  mountpoints: [null],
  'log-sec': 512,
  ...(children.length ? { children } : {}),
});
const part = (name: string, fstype: string): BlockDevice => ({
  name,
  path: `/dev/${name}`,
  type: 'part',
  size: 2 ** 40 - 2 ** 20,
  ro: false,
  rm: false,
  tran: null,
  model: null,
  serial: null,
  fstype,
  partlabel: 'x',
  mountpoints: [null],
  'log-sec': 512,
});
// the array's member on sdy; the new disk sdz carries an old ext4 partition
const LSBLK = JSON.stringify({
  blockdevices: [dev('sdy', 'M1', [part('sdy1', 'linux_raid_member')]), dev('sdz', 'NEW42', [part('sdz1', 'ext4')])],
});

// the locks are real (perl, flock, in a scratch folder); the disks and the array fake
const real = new ExecRunner();
const hold = (argv: Argv) => real.hold(argv);

function fake(): FakeRunner {
  return Object.assign(new FakeRunner(), { hold })
    .on(['lsblk', ['-J', '-b', '-o', LSBLK_COLUMNS]], { stdout: LSBLK })
    .on(['mdadm', ['--examine', '--scan', '--verbose']], {
      stdout: `ARRAY ${ARRAY}  metadata=1.2 UUID=${UUID} name=any:bv-unit-none\n   devices=/dev/sdy1\n`,
    });
}

/** Answers like the command line's options, noting what was asked. */
function answers(o: { disk?: string; wipe?: boolean; confirm?: string }) {
  const asked: string[] = [];
  let offered: string[] = [];
  const questions: MirrorQuestions = {
    disk: async (_survey, candidates) => {
      asked.push('disk');
      offered = candidates.map((d) => d.path);
      const d = _survey.disks.find((x) => x.path === (o.disk ?? '/dev/sdz'));
      return d as DiskAssessment;
    },
    wipe: async () => (asked.push('wipe'), o.wipe ?? true),
    confirm: async () => (asked.push('confirm'), o.confirm ?? 'NEW42'),
  };
  return { questions, asked, offered: () => offered };
}

const run = (
  runner: Runner,
  questions: MirrorQuestions,
  cfg = config(),
  lockDir = join(scratchDir('add'), 'locks'),
) => {
  const printed: string[] = [];
  return {
    printed,
    done: addMirror({
      runner,
      config: cfg,
      questions,
      wait: false,
      mode: { json: true, tty: false, dryRun: !runner.changesTakeEffect },
      print: (t) => void printed.push(t),
      lockDir,
    }),
  };
};

/** what the confirmed add runs on sdz before the partition appears: the wipe, then the one partition */
const WIPE_AND_PARTITION = [
  ['mdadm', ['--zero-superblock', '--force', '/dev/sdz1']],
  ['wipefs', ['--all', '--force', '--', '/dev/sdz1']],
  ['wipefs', ['--all', '--force', '--', '/dev/sdz']],
  ['dd', ['if=/dev/zero', 'of=/dev/sdz', 'bs=1M', 'count=16', 'conv=fsync', 'status=none']],
  ['dd', ['if=/dev/zero', 'of=/dev/sdz', 'bs=1M', 'count=2', 'seek=64', 'conv=fsync', 'status=none']],
  ['dd', ['if=/dev/zero', 'of=/dev/sdz', 'bs=1M', 'count=16', 'seek=1048560', 'conv=fsync', 'status=none']],
  ['sgdisk', ['--zap-all', '--', '/dev/sdz']],
  ['sgdisk', ['--new=1:0:0', '--typecode=1:fd00', '--change-name=1:backup-new42', '--', '/dev/sdz']],
  ['partx', ['--update', '--', '/dev/sdz']],
] as const;

test('add-mirror: a refused confirmation runs nothing, the stopped array is not assembled; the plan showed the assembly first', async () => {
  const runner = fake();
  const a = answers({ confirm: 'nope' });
  const { printed, done } = run(runner, a.questions);
  await assert.rejects(
    done,
    (e) => e instanceof UserError && /does not match the disk/.test(e.message) && /nothing was changed/.test(e.message),
  );
  assert.deepEqual(runner.changes, [], 'no mdadm --assemble, nothing at all');
  assert.ok(!runner.calls.some((c) => c.includes('--assemble')), runner.calls.join('\n'));
  assert.deepEqual(a.asked, ['disk', 'wipe', 'confirm']);
  assert.deepEqual(a.offered(), ['/dev/sdz'], 'the member disk (from the superblocks, array stopped) is not offered');
  const lines = printed.join('').split('\n');
  assert.equal(lines[1], `  mdadm --assemble --run ${ARRAY} --uuid=${UUID}`, printed.join(''));
  assert.equal(lines.at(-2), `  mdadm --manage ${ARRAY} --add /dev/disk/by-partlabel/backup-new42`);
});

test('add-mirror: a refused wipe and a member disk are refused before the confirmation, with nothing run', async () => {
  const refused = fake();
  const a = answers({ wipe: false });
  await assert.rejects(
    run(refused, a.questions).done,
    (e) => e instanceof UserError && /is not empty; it carries/.test(e.message) && /--wipe-existing/.test(e.fix ?? ''),
  );
  assert.deepEqual(a.asked, ['disk', 'wipe']);
  assert.deepEqual(refused.changes, []);
  const member = fake();
  await assert.rejects(
    run(member, answers({ disk: '/dev/sdy' }).questions).done,
    (e) => e instanceof UserError && /already a member of the array/.test(e.message),
  );
  assert.deepEqual(member.changes, []);
  const plain = new FakeRunner();
  await assert.rejects(
    run(plain, answers({}).questions, config({ layers: ['luks'] })).done,
    (e) => e instanceof UserError && /has no raid layer/.test(e.message),
  );
  assert.deepEqual(plain.calls, [], 'nothing even read');
});

test('add-mirror --dry-run: the plan is printed, no confirmation is asked, nothing is run (not even on paper)', async () => {
  const inner = fake();
  const onPaper: string[] = [];
  const a = answers({});
  const { printed, done } = run(new DryRunRunner(inner, (l) => onPaper.push(l)), a.questions);
  await done;
  assert.deepEqual(inner.changes, []);
  assert.deepEqual(onPaper, []);
  assert.deepEqual(a.asked, ['disk', 'wipe']);
  assert.match(
    printed.join(''),
    /^Adding \/dev\/sdz \(M, serial NEW42\) to \/dev\/md\/bv-unit-none:\n {2}mdadm --assemble/,
  );
});

test('add-mirror, confirmed: the assembly is the first change, then the wipe and the partition', async () => {
  const runner = fake();
  for (const argv of [['mdadm', ['--assemble', '--run', ARRAY, `--uuid=${UUID}`]] as const, ...WIPE_AND_PARTITION])
    runner.on(argv);
  // the settle fails, so the run stops before waiting for a partition that a fake cannot make
  runner.on(['udevadm', ['settle']], { exitCode: 1, stderr: 'timeout' });
  await assert.rejects(
    run(runner, answers({}).questions).done,
    (e) => e instanceof CommandFailedError && /udevadm settle/.test(e.message),
  );
  assert.equal(runner.changes[0], `mdadm --assemble --run ${ARRAY} --uuid=${UUID}`);
  assert.deepEqual(runner.changes.slice(-3), [
    'sgdisk --new=1:0:0 --typecode=1:fd00 --change-name=1:backup-new42 -- /dev/sdz',
    'partx --update -- /dev/sdz',
    'udevadm settle',
  ]);
  assert.ok(!runner.changes.some((c) => c.includes('--add')), 'nothing added when the partition did not come');
});

test('add-mirror takes the target lock like every run: while a backup holds it, nothing is asked past the plan and nothing runs; free: held from the confirmation through the add', async () => {
  const dir = join(scratchDir('add'), 'locks');
  const other = await acquireLocks(real, [targetLockKey(target.mountpoint)], 'a backup', dir);
  const runner = fake();
  const a = answers({});
  try {
    await assert.rejects(
      run(runner, a.questions, config(), dir).done,
      (e) => e instanceof LockedError && /the backup target \/media\/bv-unit-none/.test(e.message),
    );
  } finally {
    await other.release();
  }
  assert.deepEqual(a.asked, ['disk', 'wipe'], 'no confirmation asked');
  assert.deepEqual(runner.changes, []);
  // free: taken before the confirmation, held through the add, released after a failure too (the settle fails)
  const free = fake();
  let callsAtRelease = -1;
  free.hold = async (argv) => {
    const h = await hold(argv);
    return h.held ? { ...h, release: async () => ((callsAtRelease = free.calls.length), await h.release()) } : h;
  };
  for (const argv of [['mdadm', ['--assemble', '--run', ARRAY, `--uuid=${UUID}`]] as const, ...WIPE_AND_PARTITION])
    free.on(argv);
  free.on(['udevadm', ['settle']], { exitCode: 1, stderr: 'timeout' });
  const b = answers({});
  let heldWhileAsking = false;
  const questions: MirrorQuestions = {
    ...b.questions,
    confirm: async (words) => {
      heldWhileAsking = await acquireLocks(real, [targetLockKey(target.mountpoint)], 'a timer run', dir).then(
        async (l) => (await l.release(), false),
        (e) => e instanceof LockedError,
      );
      return b.questions.confirm(words);
    },
  };
  await assert.rejects(run(free, questions, config(), dir).done, CommandFailedError);
  assert.ok(heldWhileAsking, 'a backup started during add-mirror is refused');
  assert.equal(callsAtRelease, free.calls.indexOf('udevadm settle') + 1, 'released only after the last step run');
  const after = await acquireLocks(real, [targetLockKey(target.mountpoint)], 'the next run', dir);
  await after.release();
});
