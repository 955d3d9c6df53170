import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from '../../support/cli.js';
import { sh } from '../../support/sh.js';
import { tree } from '../../support/tree.js';
import { vmDisk, type Scenario } from './support.js';
import { answers, DATA, ok, PASS, SRC } from './setup-fixture.js';

// Setup of the layer sets other than the whole stack, each on a disk of its own.

export const layerSets: Scenario[] = [
  [
    'a plain btrfs disk (layers = []): no passphrase, no array, LUKS or LVM; then a backup onto it',
    (notes) => {
      plainDisk(notes, 'bv-q', [], '/media/plain');
    },
  ],
  [
    'a disk with LUKS alone (no RAID, no LVM); then a backup onto it',
    (notes) => {
      plainDisk(notes, 'bv-u', ['luks'], '/media/crypt');
    },
  ],
  [
    "a mirror without LVM: refused while the host records the whole stack's array under the name; once that line is gone, set up and backed up",
    (notes) => {
      const etc = '/bv-out/etc-bv-w';
      const conf = () => readFileSync('/etc/mdadm/mdadm.conf', 'utf8');
      const before = conf();
      assert.match(before, /^ARRAY \/dev\/md\/backup /m, 'the whole stack of this boot is recorded');
      const refused = cli([
        'setup',
        '--answers',
        answers('/tmp/a-bv-w.toml', 'bv-w', 'layers = ["raid", "luks"]\nmountpoint = "/media/mirror"\n'),
        '--config',
        join(etc, 'config.toml'),
        '--host',
        'vmhost',
      ]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(
        refused.stderr,
        /a new array cannot be named \/dev\/md\/backup: \/etc\/mdadm\/mdadm.conf records another array/,
      );
      assert.match(refused.stderr, /add-mirror.*delete its ARRAY line/s);
      assert.equal(
        sh('lsblk', ['-n', '-o', 'NAME', vmDisk('bv-w')])
          .trim()
          .split('\n').length,
        1,
        'no partition was made',
      );
      assert.ok(!existsSync(etc), 'no config');
      assert.equal(conf(), before, 'mdadm.conf unchanged');
      // the user retires the whole-stack disk, as the message says
      writeFileSync(
        '/etc/mdadm/mdadm.conf',
        before
          .split('\n')
          .filter((l) => !l.startsWith('ARRAY /dev/md/backup '))
          .join('\n'),
      );
      plainDisk(notes, 'bv-w', ['raid', 'luks'], '/media/mirror');
      assert.equal(
        conf()
          .split('\n')
          .filter((l) => l.startsWith('ARRAY /dev/md/backup ')).length,
        1,
        'the new array recorded once',
      );
    },
  ],
];

/**
 * Setup of a disk with fewer layers, beside the whole stack of this boot (closed), each
 * with its own config; the written config opens it, and a backup lands on it.
 */
function plainDisk(notes: string[], serial: string, layers: string[], mp: string): void {
  const etc = `/bv-out/etc-${serial}`;
  const config = join(etc, 'config.toml');
  const file = answers(`/tmp/a-${serial}.toml`, serial, `layers = ${JSON.stringify(layers)}\nmountpoint = "${mp}"\n`);
  // without LUKS no passphrase is read: its file is not even there
  if (!layers.includes('luks')) rmSync(PASS);
  const out = ok(cli(['setup', '--answers', file, '--config', config, '--host', 'vmhost']));
  const raid = layers.includes('raid');
  assert.match(out, new RegExp(`layers +${['partition', ...layers, 'btrfs'].join(' -> ')}`));
  assert.match(
    out,
    new RegExp(`--typecode=1:${raid ? 'fd00' : '8300'} --change-name=1:backup-${serial.replace('-', '')}`),
  );
  assert.doesNotMatch(out, /pvcreate|lvcreate/, 'no volume');
  if (raid) assert.match(out, /mdadm --create \/dev\/md\/backup .*missing[\s\S]*btrfs-vault add-mirror/);
  else assert.doesNotMatch(out, /mdadm|add-mirror/, 'no array');
  if (!layers.includes('luks')) assert.doesNotMatch(out, /cryptsetup/);
  const written = readFileSync(config, 'utf8');
  assert.deepEqual(
    /^layers = (.*)$/m.exec(written)?.[1]?.replace(/\s/g, ''),
    JSON.stringify(layers),
    'the layers it was asked for',
  );
  assert.ok(
    readFileSync('/etc/fstab', 'utf8').includes(
      `/dev/${layers.includes('luks') ? 'mapper/enc-backup' : `disk/by-partlabel/backup-${serial.replace('-', '')}`} ${mp} btrfs noauto`,
    ),
    'its fstab line',
  );
  assert.equal(
    sh('lsblk', ['-n', '-o', 'TYPE', vmDisk(serial)])
      .trim()
      .split('\n')
      .map((t) => t.trim())
      .join(' '),
    'disk part',
    'closed: nothing above the partition is open',
  );
  assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes(` ${mp} `), 'not mounted');
  writeFileSync(
    config,
    written.replace(
      /^host = .*$/m,
      (l) => `${l}\nsources = [{ path = "${DATA}", name = "data" }]\nsnapshot_dir = "${SRC}/snapshots-${serial}"`,
    ),
  );
  const t = Date.now();
  const report = JSON.parse(ok(cli(['backup', '--json', '--config', config])));
  assert.equal(report.sources[0].status, 'ok');
  notes.push(`backup ${((Date.now() - t) / 1000).toFixed(1)} s`);
  ok(cli(['open', '--config', config]));
  try {
    assert.equal(sh('findmnt', ['-n', '-o', 'FSTYPE', mp]).trim(), 'btrfs');
    const types = sh('lsblk', ['-n', '-o', 'TYPE', vmDisk(serial)])
      .trim()
      .split('\n')
      .map((t) => t.trim());
    assert.deepEqual(
      types.sort(),
      ['crypt', 'disk', 'part', 'raid1'].filter(
        (t) => (({ crypt: layers.includes('luks'), raid1: raid }) as Record<string, boolean>)[t] ?? true,
      ),
      'open: the layers it was made with',
    );
    assert.deepEqual(tree(join(mp, 'data', 'latest')), tree(DATA));
  } finally {
    ok(cli(['close', '--config', config]));
  }
}
