import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, withScenario, type Scenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { sourceName } from '../../src/core/naming.js';
import { sh } from '../support/sh.js';

// verify must catch damage it did not make: a file changed inside a backup, a file
// missing from it, a corrupted block on the backup disk.
before(() => requireRoot());

/** the backup made writable behind btrfs-progs' back (received UUID kept), changed with `fn`, then read-only again */
function tamper(backup: string, fn: () => void): void {
  const flags = (v: number) =>
    `import fcntl, os, struct; fd = os.open(${JSON.stringify(backup)}, os.O_RDONLY); fcntl.ioctl(fd, 0x4008941a, struct.pack('Q', ${v}))`;
  execFileSync('python3', ['-c', flags(0)]);
  fn();
  execFileSync('python3', ['-c', flags(2)]); // BTRFS_SUBVOL_RDONLY
}

function setup(s: Scenario): string {
  writeFileSync(join(s.data, 'a.txt'), 'the original text');
  writeFileSync(join(s.data, 'b.txt'), 'another file');
  execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, 'big.bin')}`, 'bs=1M', 'count=8', 'status=none']);
  const b = json(s.cli(['--json', '--config', s.config])).sources[0];
  return join(s.dst.mountPoint, sourceName(s.data), b.snapshot);
}

test(
  'verify: an equal backup is all well; a file changed in place (same size and time) and a missing file are named',
  withScenario((s) => {
    const backup = setup(s);
    const good = s.cli(['verify', '--json', '--config', s.config]);
    assert.equal(good.code, 0, good.stderr);
    const ok = json(good);
    assert.deepEqual(ok.sources[0].differences, []);
    assert.ok(ok.sources[0].checksummed >= 3);
    assert.equal(ok.scrub.csumErrors, 0);

    const a = join(backup, 'a.txt');
    const { atime, mtime } = statSync(a);
    tamper(backup, () => {
      writeFileSync(a, 'THE ORIGINAL TEXT');
      utimesSync(a, atime, mtime);
      rmSync(join(backup, 'b.txt'));
    });
    const bad = s.cli(['verify', '--json', '--no-scrub', '--config', s.config]);
    assert.equal(bad.code, 1, bad.stderr);
    const diffs = json(bad).sources[0].differences;
    // removing b.txt also changed the folder's time: rsync reports that too, unless it fell within the same second
    assert.deepEqual(
      diffs
        .map((d: { path: string }) => d.path)
        .filter((p: string) => p !== './')
        .sort(),
      ['a.txt', 'b.txt'],
    );
    assert.match(diffs.find((d: { path: string }) => d.path === 'a.txt').what, /content/);
    assert.match(diffs.find((d: { path: string }) => d.path === 'b.txt').what, /missing from the backup/);
    assert.match(
      s.cli(['verify', '--no-scrub', '--config', s.config]).stdout,
      /differs from the snapshot[\s\S]*a\.txt: file differs in content[\s\S]*fix: /,
    );
  }),
);

test(
  'verify: a corrupted block on the backup disk is found by the scrub, with the file it hit',
  withScenario((s) => {
    const backup = setup(s);
    const file = join(backup, 'big.bin');
    // where big.bin's data lies on the loop device's backing file
    const logical =
      Number(/^\s*0:\s+0\.\.\s+\d+:\s+(\d+)\.\./m.exec(sh('filefrag', ['-v', '-b4096', file]))![1]) * 4096;
    const physical = Number(/physical (\d+)/.exec(sh('btrfs-map-logical', ['-l', String(logical), s.dst.device]))![1]);
    execFileSync('dd', [
      'if=/dev/urandom',
      `of=${s.dst.file}`,
      'bs=4096',
      'count=1',
      `seek=${physical / 4096}`,
      'conv=notrunc',
      'status=none',
    ]);
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    const r = s.cli(['verify', '--json', '--config', s.config]);
    assert.equal(r.code, 1, r.stderr);
    const out = json(r);
    assert.ok(out.scrub.csumErrors >= 1, JSON.stringify(out.scrub));
    assert.ok(
      out.scrub.files.some((f: string) => f.endsWith('big.bin')),
      JSON.stringify(out.scrub.files),
    );
    assert.match(s.cli(['verify', '--config', s.config]).stdout, /the scrub found [1-9]\d* checksum.* in: .*big\.bin/);
  }),
);
