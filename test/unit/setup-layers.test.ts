import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import type { LayerName } from '../../src/config/defaults.js';
import { normalize } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { planSetup, setupConfig, setupConfigText, type SetupSpec } from '../../src/flows/setup/setup-plan.js';
import { runStep } from '../../src/flows/setup/setup-steps.js';
import { DryRunRunner } from '../../src/system/dry-run-runner.js';
import { FakeRunner } from '../support/fake-runner.js';
import { formatArgv } from '../../src/system/runner.js';
import { planSummary } from '../../src/ui/summary.js';
import { scratchDir } from '../support/scratch.js';

// Setup makes whichever layers are asked for: the whole stack, none (a plain btrfs
// disk), or a stack without LVM or without RAID. Each set's plan, summary, dry-run,
// resume checks and written config, with the fake runner.

const SETS: readonly (readonly LayerName[])[] = [
  [],
  ['luks'],
  ['raid'],
  ['raid', 'luks'],
  ['luks', 'lvm'],
  ['raid', 'luks', 'lvm'],
];
const PART = '/dev/disk/by-partlabel/backup-wd123456';

function specFor(layers: readonly LayerName[], dir = '/etc/btrfs-vault', mountpoint = '/media/backup'): SetupSpec {
  return {
    mode: 'new-disk',
    disk: '/dev/sdb',
    diskName: '/dev/disk/by-id/usb-WD_X_WD-123456',
    label: 'backup-wd123456',
    wipe: [],
    diskBytes: 500 * 1024 ** 3,
    host: 'deimos',
    layers,
    size: 'all',
    mountpoint,
    compression: 'zstd',
    array: '/dev/md/backup',
    luksName: 'enc-backup',
    keyfile: join(dir, 'key'),
    volumeGroup: 'backup',
    configFile: join(dir, 'config.toml'),
    tokenFile: join(mountpoint, '.token'),
    tokenHashFile: join(dir, 'token.sha512'),
    pbkdf: { pbkdf: 'pbkdf2', iterations: 1000 },
  };
}

const disk = {
  path: '/dev/sdb',
  byId: '/dev/disk/by-id/usb-WD_X_WD-123456',
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
};

test('a plain btrfs disk: one partition of type Linux filesystem, btrfs on it, mounted by its label; no array, LUKS or LVM', () => {
  const steps = planSetup(specFor([]));
  assert.deepEqual(
    steps.map((s) => s.id),
    ['partition', 'mkfs', 'fstab', 'mount', 'token', 'config'],
  );
  assert.deepEqual(
    steps.flatMap((s) => s.commands.map((c) => formatArgv(c.argv))),
    [
      'sgdisk --zap-all -- /dev/sdb',
      'sgdisk --new=1:0:0 --typecode=1:8300 --change-name=1:backup-wd123456 -- /dev/sdb',
      'partx --update -- /dev/sdb',
      'udevadm settle',
      `mkfs.btrfs -q -L backup-deimos -- ${PART}`,
      'mount -- /media/backup',
    ],
  );
  assert.deepEqual(steps.find((s) => s.id === 'fstab')!.writes, [
    `/etc/fstab: ${PART} /media/backup btrfs noauto,compress=zstd 0 0`,
  ]);
});

test("each layer set: the plan has exactly its layers' steps, on the right device below each", () => {
  const expected: Record<string, string[]> = {
    '': ['partition', 'mkfs', 'fstab', 'mount', 'token', 'config'],
    luks: ['partition', 'luks-format', 'keyfile', 'luks-open', 'mkfs', 'fstab', 'mount', 'token', 'config'],
    raid: ['partition', 'raid', 'mdadm-conf', 'mkfs', 'fstab', 'mount', 'token', 'config'],
    'raid,luks': [
      'partition',
      'raid',
      'mdadm-conf',
      'luks-format',
      'keyfile',
      'luks-open',
      'mkfs',
      'fstab',
      'mount',
      'token',
      'config',
    ],
    'luks,lvm': [
      'partition',
      'luks-format',
      'keyfile',
      'luks-open',
      'volume-group',
      'logical-volume',
      'mkfs',
      'fstab',
      'mount',
      'token',
      'config',
    ],
    'raid,luks,lvm': [
      'partition',
      'raid',
      'mdadm-conf',
      'luks-format',
      'keyfile',
      'luks-open',
      'volume-group',
      'logical-volume',
      'mkfs',
      'fstab',
      'mount',
      'token',
      'config',
    ],
  };
  const mkfsOn: Record<string, string> = {
    '': PART,
    luks: '/dev/mapper/enc-backup',
    raid: '/dev/md/backup',
    'raid,luks': '/dev/mapper/enc-backup',
    'luks,lvm': '/dev/backup/deimos',
    'raid,luks,lvm': '/dev/backup/deimos',
  };
  for (const layers of SETS) {
    const k = layers.join();
    const steps = planSetup(specFor(layers));
    assert.deepEqual(
      steps.map((s) => s.id),
      expected[k],
      k,
    );
    const lines = steps.flatMap((s) => s.commands.map((c) => formatArgv(c.argv)));
    assert.ok(lines.includes(`mkfs.btrfs -q -L backup-deimos -- ${mkfsOn[k]}`), `${k}: ${lines.join('\n')}`);
    assert.ok(
      lines.some((l) => l.includes(`--typecode=1:${layers.includes('raid') ? 'fd00' : '8300'}`)),
      k,
    );
    // LUKS sits on the array when there is one, else on the partition
    if (layers.includes('luks'))
      assert.ok(
        lines.includes(
          `cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file=- -- ${layers.includes('raid') ? '/dev/md/backup' : PART}`,
        ),
        k,
      );
    if (layers.includes('lvm'))
      assert.ok(
        lines.includes(`pvcreate --yes -- ${layers.includes('luks') ? '/dev/mapper/enc-backup' : '/dev/md/backup'}`),
        k,
      );
    for (const [layer, re] of [
      ['raid', /^mdadm/],
      ['luks', /^cryptsetup/],
      ['lvm', /^(pvcreate|vgcreate|lvcreate)/],
    ] as const) {
      if (!layers.includes(layer)) assert.ok(!lines.some((l) => re.test(l)), `${k}: nothing of ${layer}`);
    }
  }
});

test('each layer set: the config written loads with the same schema into the very target the plan was made for', () => {
  for (const layers of SETS) {
    const spec = specFor(layers);
    const planned = setupConfig(spec);
    const loaded = normalize(spec.configFile, configSchema.parse(parse(setupConfigText(planned))), undefined);
    assert.deepEqual(
      { ...loaded.target, minFree: undefined },
      { ...planned.target, minFree: undefined },
      layers.join(),
    );
    assert.equal(loaded.host, 'deimos');
    const text = setupConfigText(planned);
    // only the keys of the layers it has
    assert.equal(/^array = /m.test(text), layers.includes('raid'), `${layers.join()}: ${text}`);
    assert.equal(/^luks_name = /m.test(text), layers.includes('luks'));
    assert.equal(/^volume_group = /m.test(text), layers.includes('lvm'));
  }
});

test('each layer set: the summary names the layers, and a host volume only with LVM; it lists every command', () => {
  for (const layers of SETS) {
    const spec = specFor(layers);
    const steps = planSetup(spec);
    const text = planSummary(spec, disk, steps);
    assert.match(text, new RegExp(`layers +${['partition', ...layers, 'btrfs'].join(' -> ')}`), layers.join());
    assert.equal(/host volume/.test(text), layers.includes('lvm'), layers.join());
    for (const line of steps.flatMap((s) => s.commands.map((c) => formatArgv(c.argv))))
      assert.ok(text.includes(line), `${layers.join()}: ${line}`);
    if (layers.length === 0) assert.match(text, /a plain disk: not encrypted, no mirror/);
  }
});

test('each layer set: a dry-run of every step prints its commands and what it would write, and changes nothing', async () => {
  for (const layers of SETS) {
    const dir = scratchDir('setup-layers');
    const spec = specFor(layers, dir, join(dir, 'mnt'));
    const fake = new FakeRunner().on(
      ['vgs', ['--noheadings', '--units', 'b', '--nosuffix', '-o', 'vg_free', '--', 'backup']],
      { stdout: '  1000\n' },
    );
    const printed: string[] = [];
    const runner = new DryRunRunner(fake, (l) => printed.push(l));
    const config = setupConfig(spec);
    for (const step of planSetup(spec))
      await runStep(step, { runner, config, mounts: async () => [], passphrase: 'correct horse', say: () => {} });
    const expected = planSetup(spec).flatMap((s) => [
      ...(s.id === 'keyfile' ? [`write ${spec.keyfile} (1 KiB random, mode 0600)`] : []),
      ...(s.id === 'mount' ? [`mkdir -p ${spec.mountpoint}`] : []),
      // the ARRAY line is read from the array, which a dry-run did not make
      ...(s.run ? [] : s.commands.map((c) => formatArgv(c.argv))),
    ]);
    assert.deepEqual(
      printed,
      expected.map((l) => `would run: ${l}`),
      layers.join(),
    );
    assert.deepEqual(fake.changes, [], 'nothing changed');
    assert.equal(fake.calls.length, layers.includes('lvm') ? 1 : 0, 'only the free-space look at the volume group');
  }
});

test('each layer set: resume asks every step that makes something whether it is done, and brings up the layers later steps need', () => {
  for (const layers of SETS) {
    const steps = planSetup(specFor(layers));
    assert.deepEqual(
      steps.filter((s) => !s.done).map((s) => s.id),
      layers.includes('raid') ? ['mdadm-conf'] : [],
      `${layers.join()}: only the idempotent mdadm.conf step runs again`,
    );
    const up = [
      ...(layers.includes('raid') ? ['raid'] : []),
      ...(layers.includes('luks') ? ['luks-open'] : []),
      ...(layers.includes('lvm') ? ['logical-volume'] : []),
      'mount',
    ];
    assert.deepEqual(
      steps.filter((s) => s.bringUp).map((s) => s.id),
      up,
      layers.join(),
    );
    // setup waits for what each step makes: the partition, the array, the volume
    const appears = [
      PART,
      ...(layers.includes('raid') ? ['/dev/md/backup'] : []),
      ...(layers.includes('lvm') ? ['/dev/backup/deimos'] : []),
    ];
    assert.deepEqual(
      steps.filter((s) => s.appears).map((s) => s.appears),
      appears,
      layers.join(),
    );
    // the host's files are written by the step of the layer that owns them
    const owners = steps.filter((s) => s.finish || s.run).map((s) => s.id);
    assert.deepEqual(
      owners,
      [...(layers.includes('raid') ? ['mdadm-conf'] : []), 'fstab', 'token', 'config'],
      layers.join(),
    );
    assert.deepEqual(
      steps.filter((s) => s.prepare).map((s) => s.id),
      [...(layers.includes('luks') ? ['keyfile'] : []), ...(layers.includes('lvm') ? ['logical-volume'] : []), 'mount'],
      layers.join(),
    );
  }
});

test('when setup is through, add-mirror is pointed out only for a disk with a mirror', async () => {
  const { setupDoneText } = await import('../../src/flows/setup/setup.js');
  for (const layers of SETS) {
    const text = setupDoneText(specFor(layers));
    assert.match(
      text,
      /The backup disk is ready and closed again\. Add sources to \/etc\/btrfs-vault\/config\.toml, then: btrfs-vault backup/,
    );
    assert.equal(/add-mirror/.test(text), layers.includes('raid'), layers.join());
  }
});
