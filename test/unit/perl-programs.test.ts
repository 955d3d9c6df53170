import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { subvolumeInfoArgv } from '../../src/btrfs/subvolume-info.js';
import { withExactBytes } from '../../src/system/exec-runner.js';
import { holdArgv } from '../../src/system/lock.js';
import { perlOneLine } from '../../src/system/perl-program.js';

// The perl programs are .pl files beside their modules: each must compile, reach perl
// as one line that perl reads as it reads the file, and be what the module runs.

const root = process.cwd();

function files(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name), ext) : e.name.endsWith(ext) ? [join(dir, e.name)] : [],
  );
}

const programs = files(join(root, 'src'), '.pl');

function perl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('perl', args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('every perl program compiles (perl -c)', () => {
  assert.deepEqual(programs.map((f) => relative(root, f)).sort(), [
    'src/btrfs/subvolume-info.pl',
    'src/system/exec-bytes.pl',
    'src/system/hold-locks.pl',
  ]);
  for (const f of programs) {
    const r = perl(['-c', f]);
    assert.equal(r.status, 0, `${relative(root, f)}: ${r.out}`);
    assert.match(r.out, /syntax OK/);
  }
});

test('the one line given to perl -e is the program of the file (B::Deparse reads both alike)', () => {
  for (const f of programs) {
    const fromFile = perl(['-MO=Deparse', f]);
    const fromLine = perl(['-MO=Deparse', '-e', perlOneLine(readFileSync(f, 'utf8'))]);
    assert.equal(fromFile.status, 0, `B::Deparse (Debian: the perl package): ${fromFile.out}`);
    assert.equal(
      fromLine.out.replace(/^-e syntax OK$/m, ''),
      fromFile.out.replace(/^\S+ syntax OK$/m, ''),
      relative(root, f),
    );
  }
});

test('the modules run the programs of their files', () => {
  const text = (f: string) => perlOneLine(readFileSync(join(root, f), 'utf8'));
  assert.equal(holdArgv(['/x'])[1][1], text('src/system/hold-locks.pl'));
  assert.equal(
    subvolumeInfoArgv(['/x'], 'x64')[1][1],
    text('src/btrfs/subvolume-info.pl'),
    "the generic ioctl number is the file's",
  );
  assert.equal(
    subvolumeInfoArgv(['/x'], 'ppc64')[1][1],
    text('src/btrfs/subvolume-info.pl').replace('0x81f8943c', '0x41f8943c'),
  );
  assert.equal(withExactBytes(['cp', ['--', 'a\udcff', '/b']])[2], text('src/system/exec-bytes.pl'));
});

test('no perl program is written inline in a module', () => {
  const inline = files(join(root, 'src'), '.ts').filter((f) =>
    /['"`][^'"`\n]*(@ARGV|\$_\[0\]|print STDERR)/.test(readFileSync(f, 'utf8')),
  );
  assert.deepEqual(
    inline.map((f) => relative(root, f)),
    [],
    'put the program in a .pl file beside the module (src/system/perl-program.ts)',
  );
});
