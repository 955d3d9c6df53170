import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MDADM_CONF } from '../../../src/stack/array-state.js';
import { FSTAB } from '../../../src/system/fstab-file.js';
import { unitNames } from '../../../src/flows/schedule/schedule.js';
import { cli } from '../../support/cli.js';
import { sh } from '../../support/sh.js';
import { execWords, udevRules } from '../../support/unit-text.js';
import type { Scenario } from './support.js';
import { answers, freshHost, mode, ok, source, stackIsDown, withSources } from './setup-fixture.js';

// Two backup disks of one host (rotation), each the whole stack (RAID1 + LUKS + LVM):
// the first set up as every host's first, the second with `rotation = true`, on a host
// as the boot found it. Their names on the host never clash, attached together or alone.

const ETC = '/bv-out/etc-rotation';
const CONFIG = join(ETC, 'config.toml');
/** the second disk's name in the config: derived from its serial, bv-z */
const NAME = 'bvz';
const FIRST = { array: '/dev/md/backup', luks: 'enc-backup', vg: 'backup', mp: '/media/backup' };
const SECOND = {
  array: `/dev/md/backup-${NAME}`,
  luks: `enc-backup-${NAME}`,
  vg: `backup-${NAME}`,
  mp: `/media/backup-${NAME}`,
};

/**
 * The config of one of the two disks alone (the first is [target], the second the
 * [targets.bvz] table setup added at the end): each disk opened and backed up by a
 * config that knows only it, so nothing of the other's can help it along.
 */
function configOf(which: 'first' | 'second'): string {
  const full = readFileSync(CONFIG, 'utf8');
  const at = full.indexOf('\n# another backup disk of this host');
  assert.ok(at > 0, full);
  const head = full.slice(0, at);
  const text = which === 'first' ? head : head.replace(/^\[target\]\n[\s\S]*?(?=^\[)/m, '') + full.slice(at);
  const file = join(ETC, `${which}.toml`);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

function stackUp(s: typeof FIRST): void {
  for (const dev of [s.array, `/dev/mapper/${s.luks}`, `/dev/${s.vg}/vmhost`]) assert.ok(existsSync(dev), dev);
  // findmnt names the kernel's node (/dev/dm-N): the same device as the volume's link
  assert.equal(
    realpathSync(sh('findmnt', ['-no', 'SOURCE', '--mountpoint', s.mp]).trim()),
    realpathSync(`/dev/${s.vg}/vmhost`),
    s.mp,
  );
}

function stackDown(s: typeof FIRST): void {
  for (const dev of [s.array, `/dev/mapper/${s.luks}`]) assert.ok(!existsSync(dev), `${dev} is closed`);
}

export const rotation: Scenario[] = [
  [
    'rotation: a host with one backup disk (bv-y) sets up another (bv-z, rotation = true): md, LUKS, VG, mount point, keyfile, token hash, fstab and mdadm.conf lines of its own; the config keeps what it had and gets [targets.bvz]',
    (notes) => {
      freshHost();
      rmSync(ETC, { recursive: true, force: true });
      source();
      const host = ['--config', CONFIG, '--host', 'vmhost'];
      ok(cli(['setup', '--answers', answers('/tmp/a-rot-1.toml', 'bv-y'), ...host]));
      withSources(CONFIG, 'snapshots-rotation');
      const before = readFileSync(CONFIG, 'utf8');
      const out = ok(cli(['setup', '--answers', answers('/tmp/a-rot-2.toml', 'bv-z', 'rotation = true\n'), ...host]));
      notes.push(
        out
          .split('\n')
          .filter((l) => /targets|backup-bvz/.test(l))
          .slice(0, 6)
          .join(' | '),
      );
      const after = readFileSync(CONFIG, 'utf8');
      assert.ok(after.startsWith(before), 'what the config had stays as it was');
      assert.match(after.slice(before.length), /^\[targets\.bvz\]$/m);
      for (const [key, value] of [
        ['array', SECOND.array],
        ['luks_name', SECOND.luks],
        ['volume_group', SECOND.vg],
        ['mountpoint', SECOND.mp],
        ['keyfile', join(ETC, `key-${NAME}`)],
        ['token_sha512', join(ETC, `token-${NAME}.sha512`)],
        ['partition', `/dev/disk/by-partlabel/backup-${NAME}`],
      ])
        assert.match(after.slice(before.length), new RegExp(`^${key} = "${value}"$`, 'm'), key);
      for (const f of ['key', `key-${NAME}`, 'token.sha512', `token-${NAME}.sha512`])
        assert.equal(mode(join(ETC, f)), 0o600, f);
      const fstab = readFileSync(FSTAB, 'utf8');
      assert.match(fstab, /^\/dev\/backup\/vmhost \/media\/backup btrfs \S*noauto\S* /m);
      assert.match(fstab, /^\/dev\/backup-bvz\/vmhost \/media\/backup-bvz btrfs \S*noauto\S* /m);
      const arrays = readFileSync(MDADM_CONF, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('ARRAY '));
      const uuid = (name: string) => arrays.find((l) => l.startsWith(`ARRAY ${name} `))?.match(/UUID=(\S+)/)?.[1];
      assert.ok(uuid(FIRST.array) && uuid(SECOND.array), arrays.join('\n'));
      assert.notEqual(uuid(FIRST.array), uuid(SECOND.array));
      assert.equal(new Set(arrays.map((l) => l.split(' ')[1])).size, arrays.length, 'one line per array name');
      stackIsDown();
      stackDown(SECOND);
    },
  ],
  [
    'rotation: both disks attached and open at once, each under its own names; each opened and backed up alone',
    (notes) => {
      const [first, second] = [configOf('first'), configOf('second')];
      ok(cli(['open', '--config', first]));
      ok(cli(['open', '--config', second]));
      try {
        stackUp(FIRST);
        stackUp(SECOND);
        const vgs = sh('vgs', ['--noheadings', '-o', 'vg_name'])
          .split('\n')
          .map((l) => l.trim());
        assert.ok(vgs.includes(FIRST.vg) && vgs.includes(SECOND.vg), vgs.join(' '));
        notes.push(
          sh('lsblk', ['-n', '-o', 'NAME,TYPE,MOUNTPOINTS'])
            .split('\n')
            .filter((l) => /backup/.test(l))
            .join(' | '),
        );
      } finally {
        ok(cli(['close', '--config', second]));
        ok(cli(['close', '--config', first]));
      }
      stackDown(FIRST);
      stackDown(SECOND);
      for (const [config, names] of [
        [first, FIRST],
        [second, SECOND],
      ] as const) {
        const out = JSON.parse(ok(cli(['backup', '--json', '--config', config]))) as { sources: { status: string }[] };
        assert.equal(out.sources[0]?.status, 'ok');
        stackDown(FIRST);
        stackDown(SECOND);
        // findmnt exits 1 when nothing is mounted there
        assert.notEqual(
          spawnSync('findmnt', ['-n', '--mountpoint', names.mp]).status,
          0,
          `${names.mp} unmounted again`,
        );
      }
    },
  ],
  [
    "rotation, on plug-in: a udev rule per disk; udev (udevadm test) gives each disk's partition its own plug service alone, which runs backup --on-plug --target for that disk",
    (notes) => {
      const root = '/tmp/rotation-schedule';
      ok(cli(['schedule', 'install', '--on-plug', '--root', root, '--config', CONFIG]));
      const rulesDir = join(root, 'etc/udev/rules.d');
      const disks = [
        { name: 'backup', label: 'backup-bvy' },
        { name: NAME, label: `backup-${NAME}` },
      ];
      const installed: string[] = [];
      try {
        for (const d of disks) {
          const n = unitNames(CONFIG, d.name);
          const [rule] = udevRules(readFileSync(join(rulesDir, n.rule), 'utf8'));
          assert.equal(rule?.find((p) => p.key === 'ENV{SYSTEMD_WANTS}')?.value, n.plugService);
          const exec = readFileSync(join(root, 'etc/systemd/system', n.plugService), 'utf8')
            .split('\n')
            .find((l) => l.startsWith('ExecStart='))!;
          assert.deepEqual(execWords(exec.slice('ExecStart='.length)).slice(-6), [
            'backup',
            '--on-plug',
            '--target',
            d.name,
            '--config',
            CONFIG,
          ]);
          copyFileSync(join(rulesDir, n.rule), join('/etc/udev/rules.d', n.rule));
          installed.push(join('/etc/udev/rules.d', n.rule));
        }
        assert.equal(readdirSync(rulesDir).length, 2, readdirSync(rulesDir).join(' '));
        sh('udevadm', ['control', '--reload']);
        for (const d of disks) {
          const member = realpathSync(`/dev/disk/by-partlabel/${d.label}`).replace('/dev/', '');
          const r = spawnSync('udevadm', ['test', '--action=add', `/sys/class/block/${member}`], { encoding: 'utf8' });
          assert.equal(r.status, 0, r.stderr);
          const wants = /^SYSTEMD_WANTS=(.*)$/m.exec(r.stdout)?.[1]?.split(/\s+/) ?? [];
          const services = disks.map((x) => unitNames(CONFIG, x.name).plugService);
          assert.deepEqual(
            wants.filter((w) => services.includes(w)),
            [unitNames(CONFIG, d.name).plugService],
            `${d.label} (${member}): SYSTEMD_WANTS=${wants.join(' ')}`,
          );
          notes.push(`${d.label} (${member}): ${wants.join(' ')}`);
        }
      } finally {
        for (const f of installed) rmSync(f, { force: true });
        sh('udevadm', ['control', '--reload']);
        rmSync(root, { recursive: true, force: true });
      }
    },
  ],
];
