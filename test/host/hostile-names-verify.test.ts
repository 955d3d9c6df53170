import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { json, makeScenario, type Scenario } from '../support/scenario.js';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../support/loop-disk.js';
import { sourceName } from '../../src/core/naming.js';
import { BIN } from '../support/cli.js';
import { sh } from '../support/sh.js';

// Issue 19, items 6, 11 and the "weird\nname" line: file names are bytes, and every
// name a person or a log sees is escaped; verify names the file a damaged block
// belongs to, on this filesystem only. Each case failed before its change.

const raw = (latin1: string) => Buffer.from(latin1, 'latin1');
const cat = (...parts: (string | Buffer)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));

/** runs a program with arguments given as exact bytes (Node would send a string as UTF-8), through perl */
function runBytes(file: string, args: (string | Buffer)[], env: Record<string, string> = {}) {
  const hex = [file, ...args].map((a) => (typeof a === 'string' ? Buffer.from(a) : a).toString('hex'));
  const r = spawnSync('perl', ['-e', 'my @a = map { pack "H*", $_ } @ARGV; exec { $a[0] } @a or die "$!"', ...hex], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const cli = (args: (string | Buffer)[]) => runBytes('node', [BIN, ...args]);

/** the backup made writable behind btrfs-progs' back (received UUID kept), changed, then read-only again */
function tamper(backup: string, fn: () => void): void {
  const flags = (v: number) =>
    `import fcntl, os, struct; fd = os.open(${JSON.stringify(backup)}, os.O_RDONLY); fcntl.ioctl(fd, 0x4008941a, struct.pack('Q', ${v}))`;
  execFileSync('python3', ['-c', flags(0)]);
  fn();
  execFileSync('python3', ['-c', flags(2)]);
}

let s: Scenario;
let backup: string; // the one backup's path on the target
let folder: string; // the source's backup folder on the target
const XFF = raw('x\xff\xfe');
const DIRFF = raw('dir\xff');
const FFFD = Buffer.from('x\uFFFD'); // valid UTF-8: U+FFFD itself, another name than x\xff\xfe

before(() => {
  requireRoot();
  s = makeScenario({ sizeMiB: 256 });
  writeFileSync(cat(s.data, '/', XFF), 'bytes, not text');
  writeFileSync(cat(s.data, '/', FFFD), 'the replacement character');
  mkdirSync(cat(s.data, '/', DIRFF));
  writeFileSync(cat(s.data, '/', DIRFF, '/inner'), 'inside a byte-named folder');
  writeFileSync(join(s.data, 'new\nline.txt'), 'a newline in the name');
  writeFileSync(join(s.data, 'back\\slash'), 'a backslash in the name');
  writeFileSync(join(s.data, 'ok.txt'), 'plain');
  const r = s.cli(['--json', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  folder = join(s.dst.mountPoint, sourceName(s.data));
  backup = join(folder, json(r).sources[0].snapshot);
});
after(() => s?.dispose());

test("[paths we are given] files with a name of bytes \\xff\\xfe (bash $'x\\xff\\xfe'): found in the backup, shown escaped in text and --json", () => {
  const r = cli(['files', '--json', '--config', s.config, s.data, XFF]);
  assert.equal(r.code, 0, r.stderr);
  const out = json(r);
  assert.equal(out.versions.length, 1, r.stdout);
  assert.equal(out.path, 'x\\xff\\xfe');
  const text = cli(['files', '--config', s.config, s.data, XFF]);
  assert.match(text.stdout, /^x\\xff\\xfe in the backups of /m);
  assert.doesNotMatch(text.stdout, /\uFFFD/);
});

test('[paths we are given] a name of bytes and the valid name U+FFFD that Node would confuse it with are two files: each is found as itself', () => {
  const a = json(cli(['files', '--json', '--config', s.config, s.data, FFFD]));
  assert.equal(a.path, 'x\uFFFD');
  assert.equal(a.versions.length, 1);
  assert.equal(a.versions[0].size, 'the replacement character'.length);
  const b = json(cli(['files', '--json', '--config', s.config, s.data, XFF]));
  assert.equal(b.versions[0].size, 'bytes, not text'.length);
});

test('[paths we are given] restore --path of a byte name: the exact bytes come back, into a --to that is a byte name too', () => {
  const to = cat(s.dir, '/restored-', raw('\xff'));
  const r = cli(['restore', '--config', s.config, s.data, '--path', XFF, '--to', to]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(readFileSync(to, 'utf8'), 'bytes, not text');
  assert.ok(!existsSync(join(s.dir, 'restored-\uFFFD')), 'not under the name Node made of it');
  assert.match(r.stdout, /restored x\\xff\\xfe from /);
});

test('[paths we are given] a file inside a folder with a byte name: files and restore --path=… reach it', () => {
  const path = cat(DIRFF, '/inner');
  const r = json(cli(['files', '--json', '--config', s.config, s.data, path]));
  assert.equal(r.path, 'dir\\xff/inner');
  assert.equal(r.versions.length, 1);
  const to = join(s.dir, 'inner-restored');
  const back = cli(['restore', '--config', s.config, s.data, cat('--path=', path), `--to=${to}`]);
  assert.equal(back.code, 0, back.stdout + back.stderr);
  assert.equal(readFileSync(to, 'utf8'), 'inside a byte-named folder');
});

test("[paths we are given] a backslash is a name's own byte, not an escape: back\\slash is found and shown as back\\\\slash; the typed escape x\\xff is another name", () => {
  const r = json(cli(['files', '--json', '--config', s.config, s.data, 'back\\slash']));
  assert.equal(r.versions.length, 1);
  assert.equal(r.path, 'back\\\\slash');
  const typed = json(cli(['files', '--json', '--config', s.config, s.data, 'x\\xff\\xfe']));
  assert.equal(typed.versions.length, 0, 'the four characters \\xff are not the byte');
});

test("[what we write into other formats] a dry-run restore of a byte name prints the copy command with $'…' quoting, which gives the bytes back", () => {
  const to = join(s.dir, 'dry-target');
  const r = cli(['restore', '--dry-run', '--config', s.config, s.data, '--path', XFF, '--to', to]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const line = (r.stdout + r.stderr).split('\n').find((l) => /\bcp\b/.test(l));
  assert.ok(line, r.stdout + r.stderr);
  assert.match(line, /\$'[^']*\/x\\xff\\xfe'/);
  assert.doesNotMatch(line, /\uFFFD/);
  assert.ok(!existsSync(to));
});

test('[paths we are given] verify on a source holding names of bytes, a newline and a backslash: all compared by checksum, all well', () => {
  const r = s.cli(['verify', '--json', '--no-scrub', '--config', s.config]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = json(r);
  assert.deepEqual(out.sources[0].differences, []);
  assert.equal(out.sources[0].checksummed, 6, 'every file is in the sample');
});

test('[what we write into other formats] a subvolume named "weird\\nname" in a backup folder is listed as weird\\nname (text and --json), not as "weird"', () => {
  sh('btrfs', ['subvolume', 'create', join(folder, 'weird\nname')]);
  const text = s.cli(['list', '--config', s.config]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^ {2}weird\\nname {2}on target, not a backup/m);
  assert.doesNotMatch(text.stdout, /^name/m);
  const listed = json(s.cli(['list', '--json', '--config', s.config])).sources[0];
  assert.ok(listed.foreign.includes('weird\\nname'), JSON.stringify(listed.foreign));
});

test('[what we delete] a foreign subvolume named "<a backup name>\\nx" is not taken for that backup: listed escaped, left alone by a backup run', () => {
  const name = `${backup.split('/').at(-1)}\nx`;
  sh('btrfs', ['subvolume', 'create', join(folder, name)]);
  const listed = json(s.cli(['list', '--json', '--config', s.config])).sources[0];
  assert.ok(listed.foreign.includes(name.replace('\n', '\\n')), JSON.stringify(listed.foreign));
  assert.equal(listed.snapshots.filter((x: { name: string }) => x.name === backup.split('/').at(-1)).length, 1);
  const r = s.cli(['--json', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(folder, name)) && existsSync(backup));
  assert.match(json(r).sources[0].warnings.join('\n'), /\\nx is not a complete backup/);
});

test('[what we write into other formats] a subvolume name holding a terminal escape (ESC [31m) never reaches the terminal raw: list shows \\x1b', () => {
  sh('btrfs', ['subvolume', 'create', join(folder, 'red\x1b[31mtext')]);
  const r = s.cli(['list', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /\x1b/);
  assert.match(r.stdout, /red\\x1b\[31mtext/);
});

test('[what we write into other formats] files of a name with a newline: one line of text, the name shown as new\\nline.txt', () => {
  const r = s.cli(['files', '--config', s.config, s.data, 'new\nline.txt']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^new\\nline\.txt in the backups of /m);
  assert.doesNotMatch(r.stdout, /^line\.txt/m);
});

test('[paths we are given] an absolute path with bytes in it, under the source, is the same file as the relative one', () => {
  const r = json(cli(['files', '--json', '--config', s.config, s.data, cat(s.data, '/', DIRFF, '/inner')]));
  assert.equal(r.path, 'dir\\xff/inner');
  assert.equal(r.versions.length, 1);
});

test('[paths we are given] verify --full on names of bytes, a newline and a backslash: every file compared whole, all well', () => {
  const r = s.cli(['verify', '--full', '--json', '--no-scrub', '--config', s.config]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(json(r).sources[0].differences, []);
});

test('[what we write into other formats] verify names a changed file with a newline or bytes in its name on one line, escaped', () => {
  const nl = join(backup, 'new\nline.txt');
  const ff = cat(backup, '/', XFF);
  const times = [statSync(nl), statSync(ff)];
  tamper(backup, () => {
    writeFileSync(nl, 'A NEWLINE IN THE NAME');
    utimesSync(nl, times[0]!.atime, times[0]!.mtime);
    writeFileSync(ff, 'BYTES, NOT TEXT');
    utimesSync(ff, times[1]!.atime, times[1]!.mtime);
  });
  const r = s.cli(['verify', '--json', '--no-scrub', '--config', s.config]);
  assert.equal(r.code, 1, r.stderr);
  const paths = json(r)
    .sources[0].differences.map((d: { path: string }) => d.path)
    .sort();
  assert.deepEqual(paths, ['new\\nline.txt', 'x\\xff\\xfe']);
  const text = s.cli(['verify', '--no-scrub', '--config', s.config]).stdout;
  assert.match(text, /^ {2}new\\nline\.txt: file differs in content$/m);
  assert.match(text, /^ {2}x\\xff\\xfe: file differs in content$/m);
});

test('[what we write into other formats] a file of bytes found only in the backup is named escaped, as only in the backup', () => {
  tamper(backup, () => writeFileSync(cat(backup, '/only', raw('\xff')), 'planted'));
  const r = s.cli(['verify', '--json', '--no-scrub', '--config', s.config]);
  assert.equal(r.code, 1, r.stderr);
  const d = json(r).sources[0].differences.find((x: { path: string }) => x.path === 'only\\xff');
  assert.ok(d, r.stdout);
  assert.equal(d.what, 'only in the backup');
});

// last of the shared scenario's cases: its backup run makes a second backup
test("[what we write into other formats] a subvolume a user made inside the source, named with a newline and a terminal escape: the backup's warning names it escaped, on one line", () => {
  sh('btrfs', ['subvolume', 'create', join(s.data, 'user\nID 999 gen 1 \x1b[2J')]);
  try {
    const r = s.cli(['--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    const line = (r.stdout + r.stderr).split('\n').find((l) => l.includes('nested subvolumes are not part'));
    assert.ok(line, r.stdout + r.stderr);
    assert.match(line, /user\\nID 999 gen 1 \\x1b\[2J/);
    assert.doesNotMatch(r.stdout + r.stderr, /\x1b/);
  } finally {
    sh('btrfs', ['subvolume', 'delete', join(s.data, 'user\nID 999 gen 1 \x1b[2J')]);
  }
});

test("[what we write into other formats] a user's subvolume whose name holds a copy of the source's own listing row (another generation): not taken for the source; named whole in the warning", () => {
  const row = sh('btrfs', ['subvolume', 'list', '-a', '-c', '-u', '-q', '-R', s.src.mountPoint])
    .split('\n')
    .find((l) => / path (<FS_TREE>\/)?data$/.test(l))!;
  const name = `u\n${row.replace(/ gen \d+/, ' gen 1')}`;
  sh('btrfs', ['subvolume', 'create', join(s.data, name)]);
  try {
    writeFileSync(join(s.data, 'ok.txt'), 'changed');
    const r = s.cli(['--json', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    const out = json(r).sources[0];
    assert.equal(out.status, 'ok');
    assert.match(out.warnings.join('\n'), /data\/u\\nID \d+ gen 1 /, 'the whole name, escaped');
  } finally {
    sh('btrfs', ['subvolume', 'delete', join(s.data, name)]);
  }
});

// A damaged block, and where the kernel's log line points instead: the scrub reports a
// 64 KiB stripe's start (here: the file before), so verify must find the file itself.

/** logical address of a file's first block, from FIEMAP */
const logicalOf = (file: string | Buffer) =>
  Number(/^\s*0:\s+0\.\.\s+\d+:\s+(\d+)\.\./m.exec(runBytes('filefrag', ['-v', '-b4096', file]).stdout)![1]) * 4096;
function corrupt(fs: LoopFs, file: string | Buffer): void {
  // btrfs-map-logical may exit 1 after printing the mapping
  const map = spawnSync('btrfs-map-logical', ['-l', String(logicalOf(file)), fs.device], { encoding: 'utf8' });
  const physical = Number(/physical (\d+)/.exec(map.stdout)![1]);
  execFileSync('dd', [
    'if=/dev/urandom',
    `of=${fs.file}`,
    'bs=4096',
    'count=1',
    `seek=${physical / 4096}`,
    'conv=notrunc',
    'status=none',
  ]);
}

interface Damaged {
  d: Scenario;
  other: LoopFs;
  /** the two backups: marker.txt's block is shared by both */
  copies: string[];
  scrub: { csumErrors: number; files: string[]; oneOf: string[]; stripes: number };
  code: number | null;
  text: string;
}
let damagedRun: Promise<Damaged> | undefined;
after(async () => {
  const x = await damagedRun?.catch(() => undefined);
  x?.other.dispose();
  x?.d.dispose();
});

/** A target with marker.txt and a byte-named file damaged next to `sparse`, verified while another filesystem's damage is scrubbed. */
function damaged(): Promise<Damaged> {
  return (damagedRun ??= (async () => {
    const d = makeScenario({ sizeMiB: 256 });
    const other = makeLoopBtrfs(d.dir, 'other', 256);
    const x: Damaged = {
      d,
      other,
      copies: [],
      scrub: { csumErrors: 0, files: [], oneOf: [], stripes: 0 },
      code: null,
      text: '',
    };
    // three small files laid one after another: one 64 KiB stripe holds them all
    execFileSync('dd', ['if=/dev/urandom', `of=${join(d.data, 'sparse')}`, 'bs=4096', 'count=3', 'status=none']);
    execFileSync('dd', ['if=/dev/urandom', `of=${join(d.data, 'marker.txt')}`, 'bs=4096', 'count=1', 'status=none']);
    writeFileSync(cat(d.data, '/', XFF), Buffer.alloc(4096, 7));
    // enough data that the scrub runs a while (speed limited below): the other filesystem's errors land inside it
    execFileSync('dd', ['if=/dev/urandom', `of=${join(d.data, 'filler')}`, 'bs=1M', 'count=16', 'status=none']);
    for (const round of [1, 2]) {
      writeFileSync(join(d.data, 'round'), String(round));
      const r = d.cli(['--json', '--config', d.config]);
      assert.equal(r.code, 0, r.stderr);
      x.copies.push(join(d.dst.mountPoint, sourceName(d.data), json(r).sources[0].snapshot));
    }
    const copy = x.copies[1]!;
    sh('sync', []);
    assert.ok(
      Math.floor(logicalOf(join(copy, 'marker.txt')) / 65536) === Math.floor(logicalOf(join(copy, 'sparse')) / 65536),
      'precondition: one stripe',
    );
    assert.equal(
      logicalOf(join(copy, 'marker.txt')),
      logicalOf(join(x.copies[0]!, 'marker.txt')),
      'precondition: one block for both backups',
    );
    corrupt(d.dst, join(copy, 'marker.txt'));
    corrupt(d.dst, cat(copy, '/', XFF));
    // the other filesystem's damage lies where this one keeps filler: read as ours, it would name filler
    execFileSync('dd', [
      'if=/dev/urandom',
      `of=${join(other.mountPoint, 'pad')}`,
      'bs=4096',
      'count=64',
      'status=none',
    ]);
    execFileSync('dd', [
      'if=/dev/urandom',
      `of=${join(other.mountPoint, 'elsewhere.bin')}`,
      'bs=4096',
      'count=2',
      'status=none',
    ]);
    sh('sync', []);
    corrupt(other, join(other.mountPoint, 'elsewhere.bin'));
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    const uuid = sh('btrfs', ['filesystem', 'show', '--raw', d.dst.mountPoint]).match(/uuid: (\S+)/)![1];
    writeFileSync(`/sys/fs/btrfs/${uuid}/devinfo/1/scrub_speed_max`, String(8 * 1024 ** 2));

    const child = d.spawnCli(['verify', '--json', '--config', d.config]);
    let stdout = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    const done = new Promise<number | null>((res) => child.on('close', res));
    // btrfs-progs 6.2 prints no Status line while a scrub runs
    const running = () => {
      const out = spawnSync('btrfs', ['scrub', 'status', d.dst.mountPoint], { encoding: 'utf8' }).stdout;
      return /Bytes scrubbed/.test(out) && !/Status:\s+(finished|aborted)/.test(out);
    };
    let seen = false;
    for (let i = 0; i < 600 && !(seen = running()); i++) await new Promise((res) => setTimeout(res, 50));
    assert.ok(seen, 'precondition: our scrub was seen running');
    // once our scrub runs, the other filesystem's damage goes into the same kernel log
    spawnSync('btrfs', ['scrub', 'start', '-B', other.mountPoint]);
    assert.ok(running(), 'precondition: the other filesystem was scrubbed while ours ran');
    x.code = await done;
    assert.match(
      execFileSync('dmesg', { encoding: 'utf8' }),
      new RegExp(`\\(device ${other.device.split('/').at(-1)}\\): .*checksum error`),
      'precondition: the kernel logged the other filesystem',
    );
    x.scrub = json({ stdout }).scrub;
    writeFileSync(`/sys/fs/btrfs/${uuid}/devinfo/1/scrub_speed_max`, '0');
    x.text = d.cli(['verify', '--config', d.config]).stdout;
    return x;
  })());
}

test(
  "[what the kernel tells us] a corrupted block of marker.txt is named as marker.txt, not as its neighbour at the stripe's start that the kernel names",
  { timeout: 120_000 },
  async () => {
    const { scrub, code, copies } = await damaged();
    assert.equal(code, 1);
    assert.ok(scrub.csumErrors >= 2, JSON.stringify(scrub));
    assert.ok(scrub.files.includes(join(copies[1]!, 'marker.txt')), JSON.stringify(scrub));
    assert.ok(!scrub.files.some((f) => f.endsWith('/sparse')), `the neighbour is not named: ${JSON.stringify(scrub)}`);
  },
);

test(
  "[what the kernel tells us] another filesystem's damage in the same kernel log, at an address this one uses too, is not reported",
  { timeout: 120_000 },
  async () => {
    const { scrub } = await damaged();
    assert.equal(scrub.stripes, 1, `only this filesystem's damaged stripe: ${JSON.stringify(scrub)}`);
    assert.deepEqual(scrub.oneOf, [], 'every damaged block was found: no guesses');
    assert.ok(
      ![...scrub.files, ...scrub.oneOf].some((f) => /elsewhere|filler/.test(f)),
      `the other filesystem's damage is not reported: ${JSON.stringify(scrub)}`,
    );
  },
);

test(
  '[what the kernel tells us] one damaged block shared by two backups is named in both, and a damaged file of bytes by its escaped name',
  { timeout: 120_000 },
  async () => {
    const { scrub, copies } = await damaged();
    for (const c of copies) assert.ok(scrub.files.includes(join(c, 'marker.txt')), `${c}: ${JSON.stringify(scrub)}`);
    assert.ok(scrub.files.includes(`${copies[1]}/x\\xff\\xfe`), JSON.stringify(scrub));
  },
);

test(
  '[what the kernel tells us] the text report names the damaged files, and neither the neighbour nor the other filesystem',
  { timeout: 120_000 },
  async () => {
    const { text } = await damaged();
    assert.match(text, /checksum.* in: .*marker\.txt/);
    assert.match(text, /x\\xff\\xfe/);
    assert.doesNotMatch(text, /sparse|elsewhere|filler|one of/);
  },
);

// A user who may make a subvolume on the source's filesystem can name it with line
// breaks and rows of their own: btrfs prints names as they are. A row that claims the
// ID the next snapshot will get made that snapshot part of the user's name.
test('[paths we are given] a user subvolume whose name forges the row of the next snapshot: the snapshot is still seen, the chain goes on from it', async () => {
  const d = makeScenario({ sizeMiB: 256 });
  try {
    writeFileSync(join(d.data, 'f'), '1');
    const first = json(d.cli(['--json', '--config', d.config])).sources[0];
    assert.equal(first.status, 'ok');
    const ids = [...sh('btrfs', ['subvolume', 'list', d.src.mountPoint]).matchAll(/^ID (\d+) /gm)].map((m) =>
      Number(m[1]),
    );
    const next = Math.max(...ids) + 1; // the user's subvolume; the run's snapshot comes after it
    const forged = `u\nID ${next + 1} gen 1 cgen 1 top level 5 parent_uuid -                                    received_uuid -                                    uuid 00000000-0000-4000-8000-000000000001 path nowhere`; // a name cannot hold "/": a forged row can only claim a top-level path
    sh('btrfs', ['subvolume', 'create', join(d.data, forged)]);
    writeFileSync(join(d.data, 'f'), '2');
    const second = json(d.cli(['--json', '--config', d.config])).sources[0];
    assert.equal(second.status, 'ok', JSON.stringify(second));
    writeFileSync(join(d.data, 'f'), '3');
    const third = json(d.cli(['--json', '--config', d.config])).sources[0];
    assert.deepEqual(
      [third.status, third.mode, third.parent],
      ['ok', 'incremental', second.snapshot],
      'incremental from the newest pair, not from an older one',
    );
    const listed = json(d.cli(['list', '--json', '--config', d.config])).sources[0].snapshots;
    assert.deepEqual(
      listed.map((r: { name: string; paired: boolean }) => [r.name, r.paired]),
      [first, second, third].map((b) => [b.snapshot, true]),
    );
  } finally {
    d.dispose();
  }
});
