import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TargetConfig, VaultConfig } from '../../src/config/config.js';
import { TargetError } from '../../src/core/errors.js';
import type { CreateOptions, CreateStep, StackContext } from '../../src/stack/layer.js';
import { luksLayer } from '../../src/stack/luks.js';
import { lvmLayer } from '../../src/stack/lvm.js';
import { partitionLayer } from '../../src/stack/partition.js';
import { raidLayer } from '../../src/stack/raid.js';
import { createLayers } from '../../src/stack/stack.js';
import { FakeRunner } from '../support/fake-runner.js';
import { formatArgv } from '../../src/system/runner.js';

// Each layer's handler says how it is made (commands as data), from the config it is made for.

const target: TargetConfig = {
  mountpoint: '/media/backup',
  layers: ['raid', 'luks', 'lvm'],
  tokenFile: '/media/backup/.token',
  tokenHashFile: '/etc/bv/token.sha512',
  array: '/dev/md/backup',
  luksName: 'enc-backup',
  keyfile: '/etc/bv/key',
  volumeGroup: 'backup',
  logicalVolume: 'deimos',
  device: '/dev/backup/deimos',
  partition: '/dev/disk/by-partlabel/backup-x1',
};
const config = (t: Partial<TargetConfig> = {}): { config: VaultConfig } => ({
  config: {
    file: '/etc/bv/config.toml',
    dir: '/etc/bv',
    host: 'deimos',
    snapshotDir: '',
    sources: [],
    sourcesFromFile: [],
    target: { ...target, ...t },
  },
});
const opts: CreateOptions = {
  mode: 'new-disk',
  disk: '/dev/sdz',
  diskName: 'usb-X',
  label: 'backup-x1',
  size: 'all',
  compression: 'zstd',
  pbkdf: { pbkdf: 'pbkdf2', iterations: 1000 },
};
const commands = (steps: CreateStep[]) => steps.flatMap((s) => s.commands.map((c) => formatArgv(c.argv)));

test('partition: a new disk gets its one labelled partition; a disk that is in use already gets none', () => {
  const steps = partitionLayer.create(config(), opts);
  assert.deepEqual(
    steps.map((s) => s.id),
    ['partition'],
  );
  assert.deepEqual(commands(steps), [
    'sgdisk --zap-all -- /dev/sdz',
    'sgdisk --new=1:0:0 --typecode=1:fd00 --change-name=1:backup-x1 -- /dev/sdz',
    'partx --update -- /dev/sdz',
    'udevadm settle',
  ]);
  assert.deepEqual(partitionLayer.create(config(), { ...opts, mode: 'second-host' }), []);
  assert.deepEqual(partitionLayer.create(config(), { ...opts, mode: 'reconnect' }), []);
});

test('partition: inspect and open look for the partition and run nothing; a missing one is a target error', async () => {
  const runner = new FakeRunner(); // any command would throw
  const ctx = {
    runner,
    mounts: async () => [],
    ...config({ partition: '/dev/disk/by-partlabel/bv-unit-test-none' }),
  } as StackContext;
  assert.deepEqual(await partitionLayer.inspect(ctx), {
    up: false,
    detail: '/dev/disk/by-partlabel/bv-unit-test-none not found',
  });
  await assert.rejects(
    partitionLayer.open(ctx),
    (e) => e instanceof TargetError && /plug in the backup disk/.test(e.fix ?? ''),
  );
  assert.equal(await partitionLayer.close(ctx), 'already-closed');
  assert.deepEqual(runner.calls, []);
});

test('raid: a new mirror on the partition, else the existing one assembled; recorded in mdadm.conf either way', () => {
  assert.deepEqual(
    raidLayer.create(config(), opts).map((s) => s.id),
    ['raid', 'mdadm-conf'],
  );
  assert.equal(
    commands(raidLayer.create(config(), opts))[0],
    'mdadm --create /dev/md/backup --run --level=1 --raid-devices=2 --metadata=1.2 --bitmap=internal --homehost=any --name=backup /dev/disk/by-partlabel/backup-x1 missing',
  );
  const join = raidLayer.create(config(), { ...opts, mode: 'second-host' });
  assert.deepEqual(commands(join), [
    'mdadm --assemble --run /dev/md/backup /dev/disk/by-partlabel/backup-x1',
    'mdadm --detail --brief /dev/md/backup',
  ]);
});

test('luks sits on what is below it in the config: the array, or the partition without a raid layer', () => {
  assert.deepEqual(commands(luksLayer.create(config(), opts)), [
    'cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file=- -- /dev/md/backup',
    'cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file=- -- /dev/md/backup /etc/bv/key',
    'cryptsetup open --type luks --key-file /etc/bv/key -- /dev/md/backup enc-backup',
  ]);
  const noRaid = config({ layers: ['luks', 'lvm'] });
  assert.match(commands(luksLayer.create(noRaid, opts))[0]!, /luksFormat .* \/dev\/disk\/by-partlabel\/backup-x1$/);
  // joining or reconnecting never formats
  assert.deepEqual(
    luksLayer.create(config(), { ...opts, mode: 'reconnect' }).map((s) => s.id),
    ['keyfile', 'luks-open'],
  );
});

test("lvm: the group on the layer below, this host's volume; a rebuilt host's existing volume is only activated", () => {
  assert.deepEqual(commands(lvmLayer.create(config(), { ...opts, size: '250G' })), [
    'pvcreate --yes -- /dev/mapper/enc-backup',
    'vgcreate --yes -- backup /dev/mapper/enc-backup',
    'lvcreate --yes -W y -n deimos -L 250G -- backup',
  ]);
  assert.deepEqual(commands(lvmLayer.create(config({ layers: ['raid', 'lvm'] }), opts)).slice(0, 1), [
    'pvcreate --yes -- /dev/md/backup',
  ]);
  assert.deepEqual(commands(lvmLayer.create(config(), { ...opts, mode: 'second-host' })), [
    'lvcreate --yes -W y -n deimos -l 100%FREE -- backup',
  ]);
  assert.deepEqual(commands(lvmLayer.create(config(), { ...opts, mode: 'reconnect' })), [
    'lvchange --activate y -- backup/deimos',
  ]);
});

test('the layers to make come from the config: the partition, then the configured stack, the filesystem and the token', () => {
  const names = (t: Partial<TargetConfig>) => createLayers(config(t)).map((l) => l.name);
  assert.deepEqual(names({}), ['partition', 'raid', 'luks', 'lvm', 'filesystem', 'token']);
  assert.deepEqual(names({ layers: ['luks'] }), ['partition', 'luks', 'filesystem', 'token']);
  assert.deepEqual(names({ layers: [] }), ['partition', 'filesystem', 'token']);
  // a plain disk: its filesystem is made on target.device, and its fstab line says so
  const plain = config({ layers: [], device: '/dev/disk/by-partlabel/backup-x1' });
  const steps = createLayers(plain).flatMap((l) => l.create(plain, opts));
  assert.deepEqual(
    steps.map((s) => s.id),
    ['partition', 'mkfs', 'fstab', 'mount', 'token'],
  );
  assert.deepEqual(steps.find((s) => s.id === 'fstab')!.writes, [
    '/etc/fstab: /dev/disk/by-partlabel/backup-x1 /media/backup btrfs noauto,compress=zstd 0 0',
  ]);
  assert.throws(
    () =>
      createLayers(config({ layers: [], device: undefined }))[1]!.create(
        config({ layers: [], device: undefined }),
        opts,
      ),
    /target\.device/,
  );
});

/** records what each query got on stdin (a passphrase goes there, never on argv) */
class InputRecorder extends FakeRunner {
  readonly inputs: (string | undefined)[] = [];
  override async query(argv: Parameters<FakeRunner['query']>[0], options?: Parameters<FakeRunner['query']>[1]) {
    this.inputs.push(typeof options?.input === 'string' ? options.input : undefined);
    return super.query(argv, options);
  }
}

test("resume: a step is done by its handler's read-only check; a format is done only if the passphrase opens it", async () => {
  const make = (runner: FakeRunner) => ({
    runner,
    mounts: async () => [],
    passphrase: 'correct horse',
    ...config({ keyfile: '/nonexistent/bv-unit-key' }),
  });
  const format = luksLayer.create(config(), opts).find((s) => s.id === 'luks-format')!;
  const cut = new InputRecorder()
    .on(['cryptsetup', ['isLuks', '--', '/dev/md/backup']])
    .on(['cryptsetup', ['open', '--test-passphrase', '--key-file=-', '--', '/dev/md/backup']], { exitCode: 2 });
  assert.equal(await format.done!(make(cut)), false, 'a header without a usable keyslot is not done');
  assert.deepEqual(cut.inputs, [undefined, 'correct horse'], 'the passphrase only on stdin');
  const whole = new FakeRunner()
    .on(['cryptsetup', ['isLuks', '--', '/dev/md/backup']])
    .on(['cryptsetup', ['open', '--test-passphrase', '--key-file=-', '--', '/dev/md/backup']]);
  assert.equal(await format.done!(make(whole)), true);
  // a keyfile that is not there is not done, and nothing is asked
  const none = new FakeRunner();
  assert.equal(await luksLayer.create(make(none), opts).find((s) => s.id === 'keyfile')!.done!(make(none)), false);
  const vg = lvmLayer.create(config(), opts)[0]!;
  assert.equal(await vg.done!(make(new FakeRunner().on(['vgs', ['--', 'backup']], { exitCode: 5 }))), false);
  const found = new FakeRunner().on(['vgs', ['--', 'backup']]);
  assert.equal(await vg.done!(make(found)), true);
  for (const r of [cut, whole, none, found]) assert.deepEqual(r.changes, [], 'a check changes nothing');
});

test('resume: every step that makes something can tell it is done; the layers a later step needs are brought up by their handlers', async () => {
  const { planSetup } = await import('../../src/flows/setup/setup-plan.js');
  const spec = {
    mode: 'new-disk' as const,
    disk: '/dev/sdz',
    diskName: 'usb-X',
    label: 'backup-x1',
    wipe: [],
    diskBytes: 2 ** 30,
    host: 'deimos',
    layers: ['raid', 'luks', 'lvm'] as const,
    size: 'all',
    mountpoint: '/media/backup',
    compression: 'zstd' as const,
    array: '/dev/md/backup',
    luksName: 'enc-backup',
    keyfile: '/etc/bv/key',
    volumeGroup: 'backup',
    configFile: '/etc/bv/config.toml',
    tokenFile: '/media/backup/.token',
    tokenHashFile: '/etc/bv/token.sha512',
  };
  for (const mode of ['new-disk', 'second-host', 'reconnect'] as const) {
    const steps = planSetup({ ...spec, mode });
    assert.deepEqual(
      steps.filter((s) => !s.done).map((s) => s.id),
      ['mdadm-conf'],
      `${mode}: only the idempotent mdadm.conf step runs again`,
    );
    assert.deepEqual(
      steps.filter((s) => s.bringUp).map((s) => s.id),
      [
        mode === 'new-disk' ? 'raid' : 'assemble',
        'luks-open',
        mode === 'reconnect' ? 'activate' : 'logical-volume',
        'mount',
      ],
    );
    // what setup waits for udev to show after the step: the partition, the array, the volume
    assert.deepEqual(
      steps.filter((s) => s.appears).map((s) => s.appears),
      [...(mode === 'new-disk' ? ['/dev/disk/by-partlabel/backup-x1'] : []), '/dev/md/backup', '/dev/backup/deimos'],
    );
  }
});

test("raid verbs for add-mirror: a closed array's members from the superblocks (only its own), a new member after taking out the failed one", async () => {
  const closed = config({ array: '/dev/md/bv-unit-none' });
  const scan = [
    'ARRAY /dev/md/bv-unit-none  metadata=1.2 UUID=dacd1146:4bb479d4:8931fabd:55b881e6 name=any:bv-unit-none',
    '   devices=/dev/vdb1,/dev/vda1',
    'ARRAY /dev/md/other  metadata=1.2 UUID=00000000:4bb479d4:8931fabd:55b881e6 name=any:other',
    '   devices=/dev/vdc1',
  ].join('\n');
  const runner = new FakeRunner().on(['mdadm', ['--examine', '--scan', '--verbose']], { stdout: scan });
  assert.deepEqual(await raidLayer.members({ ...closed, runner, mounts: async () => [] }), {
    partitions: ['/dev/vdb1', '/dev/vda1'],
    failed: false,
  });
  assert.deepEqual(runner.changes, [], 'nothing assembled to look');
  assert.deepEqual(
    raidLayer.addMember(config(), '/dev/disk/by-partlabel/backup-new', false).map((c) => formatArgv(c.argv)),
    ['mdadm --manage /dev/md/backup --add /dev/disk/by-partlabel/backup-new'],
  );
  assert.deepEqual(
    raidLayer.addMember(config(), '/dev/disk/by-partlabel/backup-new', true).map((c) => formatArgv(c.argv)),
    [
      'mdadm --manage /dev/md/backup --remove failed',
      'mdadm --manage /dev/md/backup --add /dev/disk/by-partlabel/backup-new',
    ],
  );
});
