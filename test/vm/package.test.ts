import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { assertScenarios, bootVm, makeDisk, requireVmTools } from './harness.js';
import { requireRoot } from '../support/loop-disk.js';
import { tempDir } from '../support/scratch.js';

// The Debian package, built as `npm run package` builds it (after the build this test
// runs on), checked by lintian here and installed, used and removed in a VM: the VM's
// root is the machine's under a RAM overlay, so dpkg -i there changes nothing here.

let dir: string;
let share: string;
const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

before(() => {
  requireRoot();
  requireVmTools();
  dir = tempDir('vm');
  share = join(dir, 'share');
  mkdirSync(share);
  execFileSync('node', ['scripts/deb.mjs', share], { stdio: ['ignore', 'ignore', 'inherit'] });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('the .deb: lintian finds no error and no warning', () => {
  const deb = join(share, `btrfs-vault_${version}_all.deb`);
  const r = spawnSync('lintian', ['--fail-on', 'error,warning', deb], { encoding: 'utf8' });
  assert.equal(r.error, undefined, 'lintian is missing: scripts/deps.sh installs it');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /^[EW]: /m);
});

test("the .deb: the same bytes from two builds; root owns every file, every mtime is the last commit's; md5sums and Installed-Size agree with its files; its fields", () => {
  const deb = join(share, `btrfs-vault_${version}_all.deb`);
  const again = join(dir, 'again');
  mkdirSync(again);
  execFileSync('node', ['scripts/deb.mjs', again], { stdio: ['ignore', 'ignore', 'inherit'] });
  const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
  assert.equal(sha(join(again, basename(deb))), sha(deb), 'reproducible');
  const field = (name: string) => execFileSync('dpkg-deb', ['-f', deb, name], { encoding: 'utf8' }).trim();
  assert.equal(field('Version'), version);
  assert.equal(field('Architecture'), 'all');
  assert.match(field('Depends'), /^nodejs \(>= 20\), btrfs-progs, util-linux \(>= [\d.]+\), perl-base \(>= [\d.]+\)$/);
  assert.match(field('Recommends'), /mdadm, cryptsetup-bin, lvm2, gdisk, rsync, acl/);
  const epoch =
    process.env.SOURCE_DATE_EPOCH || execFileSync('git', ['log', '-1', '--format=%ct'], { encoding: 'utf8' }).trim();
  const tar = (args: string[]) =>
    execFileSync('sh', ['-c', `dpkg-deb --fsys-tarfile "$0" | tar ${args.join(' ')}`, deb], { encoding: 'utf8' });
  for (const line of tar(['-tv', '--numeric-owner', '--full-time']).trim().split('\n')) {
    assert.match(line, /^\S+ 0\/0 /, `root owns it: ${line}`);
  }
  const mtimes = new Set(
    tar(['-tv', '--utc', '--full-time'])
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/).slice(3, 5).join(' ')),
  );
  assert.deepEqual([...mtimes], [new Date(Number(epoch) * 1000).toISOString().replace('T', ' ').slice(0, 19)]);
  // unpacked: every file's md5 is in md5sums; Installed-Size as dpkg-gencontrol counts it
  const root = join(dir, 'unpacked');
  execFileSync('dpkg-deb', ['-R', deb, root]);
  const sums = readFileSync(join(root, 'DEBIAN', 'md5sums'), 'utf8')
    .trim()
    .split('\n');
  const files = execFileSync(
    'find',
    [root, '-path', join(root, 'DEBIAN'), '-prune', '-o', '-type', 'f', '-printf', '%P\\n'],
    { encoding: 'utf8' },
  )
    .trim()
    .split('\n')
    .sort();
  assert.deepEqual(sums.map((l) => l.slice(34)).sort(), files);
  for (const l of sums)
    assert.equal(
      createHash('md5')
        .update(readFileSync(join(root, l.slice(34))))
        .digest('hex'),
      l.slice(0, 32),
    );
  const dirs = execFileSync(
    'find',
    [root, '-path', join(root, 'DEBIAN'), '-prune', '-o', '-mindepth', '1', '-type', 'd', '-print'],
    { encoding: 'utf8' },
  )
    .trim()
    .split('\n').length;
  const kib = files.reduce((n, f) => n + Math.ceil(statSync(join(root, f)).size / 1024), 0);
  assert.equal(Number(field('Installed-Size')), kib + dirs);
});

test('vm, the .deb: dpkg -i; --version, man btrfs-vault, Tab through a restore, a backup, all by the installed program; dpkg -r leaves none of its files', async () => {
  const disks = [makeDisk(dir, 'bv-src', 256), makeDisk(dir, 'bv-dst', 256)];
  const run = await bootVm({ dir, share, disks, script: 'package', timeoutMs: 500_000 });
  process.stdout.write(`# vm: the package boot took ${run.seconds.toFixed(1)} s\n`);
  assertScenarios(run, 4);
});
