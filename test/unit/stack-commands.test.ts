import { test } from 'node:test';
import assert from 'node:assert/strict';
import { raidCommands } from '../../src/stack/raid.js';
import { luksCommands } from '../../src/stack/luks.js';
import { lvmCommands } from '../../src/stack/lvm.js';
import { partitionCommands } from '../../src/stack/partition.js';
import { mountCommands } from '../../src/stack/filesystem.js';
import { normalize } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { filesystemDevice } from '../../src/stack/layers.js';
import { VERSION } from '../../src/core/version.js';

test('create commands are exact argv: degraded mirror, LUKS with the passphrase on stdin, LVM per host', () => {
  assert.deepEqual(partitionCommands.create('/dev/sdz'), [
    'sgdisk',
    ['--new=1:0:0', '--typecode=1:fd00', '--change-name=1:backup', '--', '/dev/sdz'],
  ]);
  assert.deepEqual(raidCommands.create({ array: '/dev/md/backup', partition: '/dev/sdz1' }), [
    'mdadm',
    [
      '--create',
      '/dev/md/backup',
      '--run',
      '--level=1',
      '--raid-devices=2',
      '--metadata=1.2',
      '--bitmap=internal',
      '--homehost=any',
      '--name=backup',
      '/dev/sdz1',
      'missing',
    ],
  ]);
  assert.deepEqual(luksCommands.format('/dev/md/backup'), [
    'cryptsetup',
    ['luksFormat', '--batch-mode', '--type', 'luks2', '--key-file=-', '--', '/dev/md/backup'],
  ]);
  assert.deepEqual(luksCommands.addKeyfile('/dev/md/backup', '/etc/btrfs-vault/key'), [
    'cryptsetup',
    ['luksAddKey', '--batch-mode', '--key-file=-', '--', '/dev/md/backup', '/etc/btrfs-vault/key'],
  ]);
  assert.deepEqual(luksCommands.open('/dev/md/backup', 'enc-backup', '/etc/btrfs-vault/key'), [
    'cryptsetup',
    ['open', '--type', 'luks', '--key-file', '/etc/btrfs-vault/key', '--', '/dev/md/backup', 'enc-backup'],
  ]);
  assert.deepEqual(lvmCommands.lvcreate('backup', 'deimos', 'all'), [
    'lvcreate',
    ['--yes', '-W', 'y', '-n', 'deimos', '-l', '100%FREE', '--', 'backup'],
  ]);
  assert.deepEqual(lvmCommands.lvcreate('backup', 'deimos', '250G'), [
    'lvcreate',
    ['--yes', '-W', 'y', '-n', 'deimos', '-L', '250G', '--', 'backup'],
  ]);
  assert.deepEqual(mountCommands.mountDevice('/dev/backup/deimos', '/media/backup'), [
    'mount',
    ['-t', 'btrfs', '--', '/dev/backup/deimos', '/media/backup'],
  ]);
});

test('the test-only key derivation flags appear only when asked for', () => {
  assert.deepEqual(luksCommands.format('/dev/x', { pbkdf: 'pbkdf2', iterations: 1000 })[1].slice(4, 8), [
    '--pbkdf',
    'pbkdf2',
    '--pbkdf-force-iterations',
    '1000',
  ]);
});

test('config: stack keys and the device derived from the layers', () => {
  const cfg = (toml: Record<string, unknown>) =>
    normalize('/etc/btrfs-vault/config.toml', configSchema.parse(toml), undefined);
  const full = cfg({ host: 'deimos', target: { layers: ['raid', 'luks', 'lvm'] } });
  assert.equal(filesystemDevice(full.target), '/dev/backup/deimos');
  assert.equal(full.target.keyfile, '/etc/btrfs-vault/key');
  assert.equal(full.target.array, '/dev/md/backup');
  assert.equal(full.target.luksName, 'enc-backup');
  assert.equal(filesystemDevice(cfg({ target: { layers: ['raid', 'luks'] } }).target), '/dev/mapper/enc-backup');
  assert.equal(filesystemDevice(cfg({ target: { layers: ['raid'] } }).target), '/dev/md/backup');
  assert.equal(filesystemDevice(cfg({ target: { layers: [] } }).target), undefined);
  assert.equal(filesystemDevice(cfg({ host: 'h', target: { layers: ['lvm'], device: '/dev/x' } }).target), '/dev/x');
  assert.throws(() => cfg({ target: { layers: ['lvm', 'raid'] } }), /bottom-up in the order raid, luks, lvm/);
  assert.throws(() => cfg({ target: { layers: ['luks', 'luks'] } }), /each layer at most once/);
});

test('open and close reports: a line per layer, the space and last backups, the dry-run note; or one JSON document', async () => {
  const { openReport, closeReport } = await import('../../src/flows/session/open-close.js');
  const state = {
    steps: [{ layer: 'filesystem', outcome: 'opened' }],
    layers: [
      { layer: 'filesystem', up: true, detail: '/dev/sdb1 on /media/backup (btrfs)' },
      { layer: 'token', up: false, detail: 'there is no token file' },
    ],
    space: { free: 2 * 1024 ** 3, size: 8 * 1024 ** 3 },
    latest: [{ source: 'home', latest: '2026-11-27_03-00-00' }, { source: 'www' }],
  };
  const lines = openReport(state, { json: false, dryRun: true });
  assert.equal(lines[0], 'filesystem  open    /dev/sdb1 on /media/backup (btrfs)');
  assert.equal(lines[1], 'token       closed  there is no token file');
  assert.equal(lines[2], 'space       2.00 GiB free of 8.00 GiB');
  assert.deepEqual(lines.slice(3), [
    'last backup home: 2026-11-27_03-00-00',
    'last backup www: none yet',
    'dry run: nothing was changed',
  ]);
  assert.ok(!openReport(state, { json: false, dryRun: false }).includes('dry run: nothing was changed'));
  const [json] = openReport(state, { json: true, dryRun: true });
  assert.deepEqual(JSON.parse(json!), { version: VERSION, ok: true, dryRun: true, ...state, exitCode: 0 });
  assert.deepEqual(closeReport([{ layer: 'raid', outcome: 'closed' }], { json: false }), ['raid        closed']);
  assert.deepEqual(JSON.parse(closeReport([{ layer: 'raid', outcome: 'closed' }], { json: true })[0]!), {
    version: VERSION,
    ok: true,
    steps: [{ layer: 'raid', outcome: 'closed' }],
    exitCode: 0,
  });
});
