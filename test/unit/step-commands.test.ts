import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CommandFailedError } from '../../src/core/errors.js';
import { planSetup, setupConfig, type SetupSpec } from '../../src/flows/setup/setup-plan.js';
import { runStep } from '../../src/flows/setup/setup-steps.js';
import { planMirror } from '../../src/flows/setup/add-mirror.js';
import { FakeRunner } from '../support/fake-runner.js';
import { formatArgv, type Argv, type RunOptions } from '../../src/system/runner.js';
import { planSummary } from '../../src/ui/summary.js';
import { scratchDir } from '../support/scratch.js';

// A planned command carries how it runs (the passphrase on stdin, a failure that is
// fine), said by the handler that makes it; the flows only run it.

/** The fake runner, also noting what each change got on stdin and whether it may fail. */
class OptionsRecorder extends FakeRunner {
  readonly runs: { line: string; input?: string; allowFailure: boolean }[] = [];
  override async run(argv: Argv, o?: RunOptions) {
    this.runs.push({
      line: formatArgv(argv),
      ...(typeof o?.input === 'string' ? { input: o.input } : {}),
      allowFailure: Boolean(o?.allowFailure),
    });
    return super.run(argv, o);
  }
}

function specIn(dir: string): SetupSpec {
  return {
    mode: 'new-disk',
    disk: '/dev/sdb',
    diskName: '/dev/disk/by-id/usb-WD_X_WD-123456',
    label: 'backup-wd123456',
    wipe: ['/dev/sdb1', '/dev/sdb'],
    diskBytes: 500 * 1024 ** 3,
    host: 'deimos',
    layers: ['raid', 'luks', 'lvm'],
    size: 'all',
    mountpoint: join(dir, 'mnt'),
    compression: 'zstd',
    array: '/dev/md/backup',
    luksName: 'enc-backup',
    keyfile: join(dir, 'key'),
    volumeGroup: 'backup',
    configFile: join(dir, 'config.toml'),
    tokenFile: join(dir, 'mnt/.token'),
    tokenHashFile: join(dir, 'token.sha512'),
    pbkdf: { pbkdf: 'pbkdf2', iterations: 1000 },
  };
}

test('the plan says which commands take the passphrase (only luksFormat and luksAddKey) and which may fail (md superblock zeroing, partx)', () => {
  const steps = planSetup(specIn('/etc/bv'));
  const commands = steps.flatMap((s) => s.commands);
  assert.deepEqual(
    commands.filter((c) => c.input === 'passphrase').map((c) => c.argv[1][0]),
    ['luksFormat', 'luksAddKey'],
  );
  assert.deepEqual(
    commands.filter((c) => c.mayFail).map((c) => formatArgv(c.argv)),
    ['mdadm --zero-superblock --force /dev/sdb1', 'partx --update -- /dev/sdb'],
  );
  // the summary marks exactly those that read the passphrase
  const summary = planSummary(
    specIn('/etc/bv'),
    {
      path: '/dev/sdb',
      model: 'WD X',
      serial: 'WD-123456',
      size: 500 * 1024 ** 3,
      transport: 'usb',
      removable: false,
      logicalSectorSize: 512,
      eligible: true,
      reasons: [],
      signatures: [],
      partitions: [],
    },
    steps,
  );
  assert.deepEqual(
    summary
      .split('\n')
      .filter((l) => l.endsWith('(passphrase on stdin)'))
      .map((l) => l.trim().split(' ').slice(0, 2).join(' ')),
    ['cryptsetup luksFormat', 'cryptsetup luksAddKey'],
  );
});

test('runStep: the passphrase goes on stdin of the commands that take it and of no other; a wipe goes on past a partition without an md superblock', async () => {
  const dir = scratchDir('step-commands');
  const spec = specIn(dir);
  const steps = planSetup(spec);
  const runner = new OptionsRecorder().on(['mdadm', ['--zero-superblock', '--force', '/dev/sdb1']], {
    exitCode: 1,
    stderr: 'Unrecognised md component device',
  });
  for (const step of steps)
    for (const c of step.commands) if (c.argv[0] !== 'mdadm' || c.argv[1][0] !== '--zero-superblock') runner.on(c.argv);
  const ctx = { runner, config: setupConfig(spec), mounts: async () => [], passphrase: 'correct horse', say: () => {} };
  for (const id of ['wipe', 'luks-format', 'keyfile'] as const)
    await runStep(
      steps.find((s) => s.id === id)!,
      ctx,
    );
  assert.deepEqual(
    runner.runs.filter((r) => r.input !== undefined).map((r) => [r.line.split(' ')[1], r.input]),
    [
      ['luksFormat', 'correct horse'],
      ['luksAddKey', 'correct horse'],
    ],
  );
  assert.deepEqual(
    runner.runs.filter((r) => r.allowFailure).map((r) => r.line),
    ['mdadm --zero-superblock --force /dev/sdb1'],
  );
  assert.equal(runner.runs.length, 8, runner.runs.map((r) => r.line).join('\n'));
  // any other failure is an error
  const failing = new OptionsRecorder()
    .on(['wipefs', ['--all', '--force', '--', '/dev/sdb1']], { exitCode: 1, stderr: 'probing failed' })
    .on(['mdadm', ['--zero-superblock', '--force', '/dev/sdb1']]);
  await assert.rejects(
    runStep(
      steps.find((s) => s.id === 'wipe')!,
      { ...ctx, runner: failing },
    ),
    (e) => e instanceof CommandFailedError && /wipefs/.test(e.message),
  );
});

test('add-mirror: its plan carries the same options (partx may fail; no passphrase anywhere), from the partition and raid handlers', () => {
  const config = setupConfig(specIn('/etc/bv'));
  const disk = {
    path: '/dev/sdc',
    byId: '/dev/disk/by-id/usb-N',
    model: 'N',
    serial: 'N-42',
    size: 2 ** 40,
    transport: 'usb',
    removable: false,
    logicalSectorSize: 512,
    eligible: true,
    reasons: [],
    signatures: ['ext4'],
    partitions: ['/dev/sdc1'],
  };
  const plan = planMirror({ config }, disk, ['/dev/sdc1'], true, false);
  const commands = [...plan.partition, ...plan.add];
  assert.deepEqual(
    commands.filter((c) => c.mayFail).map((c) => formatArgv(c.argv)),
    ['mdadm --zero-superblock --force /dev/sdc1', 'partx --update -- /dev/sdc'],
  );
  assert.ok(!commands.some((c) => c.input), 'no command of add-mirror reads a passphrase');
  assert.equal(
    formatArgv(commands.at(-1)!.argv),
    'mdadm --manage /dev/md/backup --add /dev/disk/by-partlabel/backup-n42',
  );
});
