import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import {
  writeFileSync,
  chmodSync,
  chownSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { loadConfig, parseSourcesFile } from '../../src/config/load.js';
import { assertPrivateFile } from '../../src/config/permissions.js';
import { ProblemsError, UserError } from '../../src/core/errors.js';
import { scratchDir } from '../support/scratch.js';

function dirWith(files: Record<string, string>): string {
  const dir = scratchDir('cfg');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function problemsOf(toml: string, files: Record<string, string> = {}): Promise<ProblemsError> {
  const dir = dirWith({ 'config.toml': toml, ...files });
  const err = await loadConfig(join(dir, 'config.toml')).catch((e) => e);
  assert.ok(err instanceof ProblemsError, `refused with problems: ${err?.message ?? 'accepted'}`);
  assert.equal(err.exitCode, 2);
  return err;
}

/** Every problem says what happened and, on its own line, the fix. */
function assertEachHasFix(err: ProblemsError): void {
  for (const p of err.problems) assert.match(p, /\n {4}fix: \S/, `a fix for: ${p}`);
}

test('defaults follow the original script; relative files sit beside the config', async () => {
  const dir = dirWith({ 'config.toml': 'sources = ["/", "/home"]\n[target]\n' });
  const c = await loadConfig(join(dir, 'config.toml'));
  assert.equal(c.target.mountpoint, '/media/backup');
  assert.equal(c.target.tokenFile, '/media/backup/.token');
  assert.equal(c.target.tokenHashFile, join(dir, 'token.sha512'));
  assert.equal(c.snapshotDir, join(dir, 'snapshots'));
  assert.deepEqual(
    c.sources.map((s) => [s.path, s.name, s.snapshotDir]),
    [
      ['/', 'root', join(dir, 'snapshots', 'root')],
      ['/home', 'home', join(dir, 'snapshots', 'home')],
    ],
  );
  assert.deepEqual(c.target.layers, []);
});

test('a missing [target] is an error that shows the minimal table, not a silent /media/backup', async () => {
  const err = await problemsOf('sources = ["/home"]\n');
  assert.equal(err.problems.length, 1);
  assert.match(err.problems[0]!, /there is no \[target\] table/);
  assert.match(err.problems[0]!, /fix: .*\n\s+\[target\]\n\s+mountpoint = "\/media\/backup"\n\s+layers = \[\]/);
});

test('sources file: CRLF line ends, only a line starting with # is a comment, a # inside a path is part of it', async () => {
  const file =
    '# my sources\r\n/\r\n\r\n   # an indented comment\r\n/home\r\n/srv/my data\r\n/srv/#tmp\r\n/data/my #1  \r\n';
  const dir = dirWith({ 'config.toml': 'sources = ["/home"]\n[target]\n', sources: file });
  const c = await loadConfig(join(dir, 'config.toml'));
  const expected = ['/home', '/', '/srv/my data', '/srv/#tmp', '/data/my #1'];
  assert.deepEqual(
    c.sources.map((s) => s.path),
    expected,
    'merged with the config, the configured /home once',
  );
  assert.deepEqual(
    c.sourcesFromFile.map((s) => s.path),
    ['/home', '/', '/srv/my data', '/srv/#tmp', '/data/my #1'],
    '-S takes every path in the file',
  );
  assert.ok(c.sources.every((s) => !s.path.includes('\r')));
  assert.deepEqual(parseSourcesFile('\uFEFFa\n#b\n c # d\r\n'), [
    { line: 1, path: 'a' },
    { line: 3, path: 'c # d' },
  ]);
});

test('per-source snapshot folder and name', async () => {
  const dir = dirWith({
    'config.toml':
      'snapshot_dir = "/snapshots"\nsources = [{ path = "/home", snapshot_dir = "/home/.snaps", name = "h" }, "/"]\n[target]\n',
  });
  const c = await loadConfig(join(dir, 'config.toml'));
  assert.equal(c.sources[0]!.snapshotDir, '/home/.snaps/h');
  assert.equal(c.sources[1]!.snapshotDir, '/snapshots/root');
});

test('every problem at once, each with file and key', async () => {
  const err = await problemsOf(
    'colour = 1\nsources = ["relative", "/a/b", "/a-b"]\n[target]\nmountpoint = "/m"\nlayer = []\n',
  );
  assert.match(err.message, /unknown key colour/);
  assert.match(err.message, /\[target\] unknown key layer\n\s+fix: did you mean layers\?/);
  assertEachHasFix(err);
});

test('normalization problems are collected together', async () => {
  const err = await problemsOf('sources = ["relative", "/a/b", "/a-b"]\n[target]\n');
  assert.equal(err.problems.length, 2);
  assert.match(err.problems[0]!, /sources\[0\].*not an absolute path/);
  assert.match(err.problems[1]!, /\/a\/b and \/a-b would both be stored as "a-b"[^]*fix: .*name = "\.\.\."/);
  assertEachHasFix(err);
});

test('paths are normalised: /a//data, /a/./data and /a/x/../data are /a/data with the folder a-data', async () => {
  for (const written of ['/a//data', '/a/./data', '/a/x/../data', '/a/data/']) {
    const dir = dirWith({ 'config.toml': `sources = [${JSON.stringify(written)}]\n[target]\n` });
    const [s] = (await loadConfig(join(dir, 'config.toml'))).sources;
    assert.deepEqual(
      [s!.path, s!.name, s!.snapshotDir],
      ['/a/data', 'a-data', join(dir, 'snapshots', 'a-data')],
      written,
    );
  }
  const err = await problemsOf('sources = ["/a/data", "/a//data"]\n[target]\n');
  assert.match(err.problems[0]!, /source \/a\/data is listed twice[^]*fix: remove one/);
  // the sources file may repeat a configured path; the config's settings hold
  const dir = dirWith({
    'config.toml': 'sources = [{ path = "/a/data", name = "d" }]\n[target]\n',
    sources: '/a/x/../data\n',
  });
  assert.deepEqual(
    (await loadConfig(join(dir, 'config.toml'))).sources.map((s) => s.name),
    ['d'],
  );
});

test('two sources with one folder name are refused, naming both and the name = fix; also across the sources file', async () => {
  const err = await problemsOf('sources = ["/x-y"]\n[target]\n', { sources: '/x/y\n' });
  assert.equal(err.problems.length, 1);
  assert.match(err.problems[0]!, /sources:1: sources \/x-y and \/x\/y would both be stored as "x-y"/);
  assert.match(
    err.problems[0]!,
    /fix: give one of them its own name in .*config\.toml: sources = \[\{ path = "\/x\/y", name = "\.\.\." \}\]/,
  );
  const named = await problemsOf('sources = ["/srv/www", { path = "/var/www", name = "srv-www" }]\n[target]\n');
  assert.match(named.problems[0]!, /\/srv\/www and \/var\/www would both be stored as "srv-www"/);
});

test('a folder name longer than 255 bytes, "..", a leading "." or the token\'s name is refused at config time', async () => {
  const long = `/${'ä'.repeat(100)}/${'b'.repeat(60)}`; // 200 + 1 + 60 bytes: every component fits, the name does not
  const err = await problemsOf(
    `sources = [${JSON.stringify(long)}, { path = "/q", name = ".." }, "/.hidden", { path = "/r", name = "${'n'.repeat(256)}" }]\n[target]\n`,
  );
  assert.equal(err.problems.length, 4);
  assert.match(
    err.problems[0]!,
    /derived from .* is 261 bytes long; a folder name may have at most 255\n\s+fix: give the source a short plain name: sources = \[\{ path = "\/ä+\/b+", name = "\.\.\." \}\]/,
  );
  assert.match(err.problems[1]!, /sources\[1\]\.name: the name "\.\." is not a folder name/);
  assert.match(err.problems[2]!, /"\.hidden" starts with "\."/);
  assert.match(err.problems[3]!, /sources\[3\]\.name: .* is 256 bytes long/);
  const token = await problemsOf('sources = [{ path = "/t", name = "tok" }]\n[target]\ntoken = "tok/.token"\n');
  assert.match(token.problems[0]!, /would be stored as "tok", where target.token = "tok\/.token" lives/);
  assertEachHasFix(token);
});

test('a wrong type names the key, the type found, the type expected and an example', async () => {
  const cases: [string, RegExp, RegExp][] = [
    [
      'sources = "/home"\n[target]\n',
      /sources = "\/home" is a string; expected an array of paths or tables/,
      /sources = \["\/", "\/home"/,
    ],
    [
      '[target]\nlayers = "raid"\n',
      /target\.layers = "raid" is a string; expected an array of layer names/,
      /under \[target\], write it like this: layers = \["raid", "luks", "lvm"\]/,
    ],
    [
      '[target]\nlayers = ["raid", "zfs"]\n',
      /target\.layers\[1\] = "zfs" is not allowed; expected one of "raid", "luks", "lvm"/,
      /layers = \[/,
    ],
    ['host = 5\n[target]\n', /host = 5 is an integer; expected a string: a host name/, /host = "deimos"/],
    [
      'sources = [1]\n[target]\n',
      /sources\[0\] = 1 is an integer; expected a path \(a string starting with \/\) or a table/,
      /sources = \[/,
    ],
    [
      'sources = [{ path = true }]\n[target]\n',
      /sources\[0\]\.path = true is a boolean; expected a string: the absolute path of a btrfs subvolume/,
      /sources = \[\{ path = "\/srv\/www" \}\]/,
    ],
    [
      'sources = [{ path = "/a", name = 3 }]\n[target]\n',
      /sources\[0\]\.name = 3 is an integer; expected a string: one folder name/,
      /name = "www"/,
    ],
    [
      'snapshot_dir = ["/s"]\n[target]\n',
      /snapshot_dir = \["\/s"\] is an array; expected a string/,
      /snapshot_dir = "\/snapshots"/,
    ],
    [
      'target = "/media/backup"\n',
      /target = "\/media\/backup" is a string; expected a table/,
      /\[target\]\n\s+mountpoint = /,
    ],
    [
      '[target]\nmountpoint = 1979-05-27\n',
      /target\.mountpoint = 1979-05-27 is a date; expected a string/,
      /mountpoint = "\/media\/backup"/,
    ],
    ['[target]\ntoken = 1.5\n', /target\.token = 1\.5 is a float; expected a string/, /token = "\.token"/],
    [
      '[target]\ntoken_sha512 = {}\n',
      /target\.token_sha512 = \{ {2}\} is a table; expected a string/,
      /token_sha512 = "token\.sha512"/,
    ],
    [
      '[target]\narray = []\n',
      /target\.array = \[\] is an array; expected a string: the device of the md RAID1 array/,
      /array = "\/dev\/md\/backup"/,
    ],
    [
      '[target]\nluks_name = false\n',
      /target\.luks_name = false is a boolean; expected a string: a device-mapper name/,
      /luks_name = "enc-backup"/,
    ],
    [
      '[target]\nkeyfile = 0\n',
      /target\.keyfile = 0 is an integer; expected a string: the LUKS keyfile/,
      /keyfile = "key"/,
    ],
    [
      '[target]\nvolume_group = 1\n',
      /target\.volume_group = 1 is an integer; expected a string: an LVM volume group name/,
      /volume_group = "backup"/,
    ],
    [
      '[target]\ndevice = 1\n',
      /target\.device = 1 is an integer; expected a string/,
      /device = "\/dev\/backup\/deimos"/,
    ],
    [
      '[target]\npartition = 1\n',
      /target\.partition = 1 is an integer; expected a string/,
      /partition = "\/dev\/disk\/by-partlabel\/backup"/,
    ],
  ];
  for (const [toml, what, example] of cases) {
    const err = await problemsOf(toml);
    assert.equal(err.problems.length, 1, toml);
    assert.match(err.problems[0]!, what, toml);
    const fix = err.problems[0]!.split('\n    fix: ')[1] ?? '';
    assert.match(fix, example, `the fix shows how to write it: ${toml}`);
    assert.match(fix, /README, "Configuration"/, toml);
    assert.doesNotMatch(err.message, /Invalid input/, toml);
  }
});

test('bad names and values: empty strings, host, luks and volume group names, paths that are not absolute', async () => {
  const cases: [string, RegExp][] = [
    ['host = ""\n[target]\n', /host = "" is empty/],
    ['host = "-x"\n[target]\n', /host = "-x" is not a host name/],
    [`host = "${'h'.repeat(64)}"\n[target]\n`, /host = "h+" is too long/],
    [
      'host = "snapshot"\n[target]\nlayers = ["lvm"]\n',
      /"snapshot" names this host's logical volume, and LVM keeps that name/,
    ],
    ['sources = [""]\n[target]\n', /sources\[0\] = "" is empty/],
    ['sources = ["/a\\nb"]\n[target]\n', /sources\[0\] = "\/a\\nb" contains a line break or NUL byte/],
    ['sources = ["/a\\u0000b"]\n[target]\n', /sources\[0\] = "\/a\\u0000b" contains a line break or NUL byte/],
    ['[target]\nluks_name = "control"\n', /luks_name = "control" is the name of device-mapper's own device/],
    ['[target]\nluks_name = "enc/backup"\n', /luks_name = "enc\/backup" is not a device-mapper name/],
    ['[target]\nluks_name = ".."\n', /luks_name = "\.\." is not a name/],
    ['[target]\nvolume_group = "-vg"\n', /volume_group = "-vg" starts with "-"/],
    ['[target]\nvolume_group = "mapper"\n', /volume_group = "mapper" is the name of a folder of \/dev/],
    ['[target]\nvolume_group = "my vg"\n', /volume_group = "my vg" is not an LVM volume group name/],
    ['[target]\nmountpoint = "media/backup"\n', /target\.mountpoint: "media\/backup" is not an absolute path/],
    ['[target]\nmountpoint = "/"\n', /"\/" is the root filesystem, not a backup disk/],
    ['[target]\ntoken = "../x"\n', /target\.token: "\.\.\/x" is not on the backup filesystem/],
    ['[target]\nlayers = ["raid"]\narray = "md/backup"\n', /target\.array: "md\/backup" is not an absolute path/],
    ['[target]\nlayers = ["luks", "luks"]\n', /each layer at most once, bottom-up in the order raid, luks, lvm/],
  ];
  for (const [toml, what] of cases) {
    const err = await problemsOf(toml);
    assert.match(err.message, what, toml);
    assertEachHasFix(err);
  }
});

test('two configured paths that are one subvolume (a symlink) would start two chains: refused', async () => {
  const dir = dirWith({});
  mkdirSync(join(dir, 'data'));
  symlinkSync(join(dir, 'data'), join(dir, 'link'));
  writeFileSync(
    join(dir, 'config.toml'),
    `sources = [${JSON.stringify(join(dir, 'data'))}, ${JSON.stringify(join(dir, 'link'))}]\n[target]\n`,
  );
  const err = await loadConfig(join(dir, 'config.toml')).catch((e) => e);
  assert.ok(err instanceof ProblemsError);
  assert.match(err.message, /data and .*link are the same subvolume[^]*fix: list it once/);
});

test('syntax error names file, line and column; a missing file names --config and README "Configuration"', async () => {
  const dir = dirWith({ 'config.toml': 'sources = ["/"\nhost = "x"\n' });
  const err = await loadConfig(join(dir, 'config.toml')).catch((e) => e);
  assert.ok(err instanceof UserError);
  assert.match(err.message, /config\.toml:\d+:\d+: TOML syntax error/);
  assert.match(err.fix!, /fix the syntax at line \d+/);
  const missing = await loadConfig(join(dir, 'nope.toml')).catch((e) => e);
  assert.match(missing.message, /does not exist/);
  assert.match(missing.fix, /--config/);
  assert.match(missing.fix, /README, "Configuration"/);
});

test('--config pointing at a folder, a FIFO or through a file is refused without reading it', async () => {
  const dir = dirWith({ plain: 'x' });
  const folder = await loadConfig(dir).catch((e) => e);
  assert.ok(folder instanceof UserError);
  assert.match(folder.message, /is a folder/);
  assert.equal(folder.fix, `point --config at the file in it, e.g. --config ${join(dir, 'config.toml')}`);
  const through = await loadConfig(join(dir, 'plain', 'config.toml')).catch((e) => e);
  assert.match(through.message, /a part of its path is a file/);
  execFileSync('mkfifo', [join(dir, 'fifo')]); // reading it would wait forever
  const fifo = await loadConfig(join(dir, 'fifo')).catch((e) => e);
  assert.match(fifo.message, /is not a regular file/);
});

// root runs the tests in npm test; as another user (npm run test:unit) that user's files are trusted too
const me = process.geteuid!();
const others = me === 0 ? 'others than root' : `others than root and you \\(uid ${me}\\)`;

test('a config or sources file, or their folder, that anyone but root can change is refused with the chown/chmod', async () => {
  const dir = dirWith({ 'config.toml': '[target]\n' });
  const file = join(dir, 'config.toml');
  await loadConfig(file);
  chmodSync(file, 0o666);
  let err = await loadConfig(file).catch((e) => e);
  assert.ok(err instanceof UserError);
  assert.match(
    err.message,
    new RegExp(`config file .*config\\.toml can be changed by ${others} \\(owner uid ${me}, mode 0666\\)`),
  );
  assert.equal(err.fix, `run: chmod go-w ${file}`);
  chmodSync(file, 0o644);

  if (me === 0) {
    // only root can give a file away; npm test runs as root
    chownSync(file, 1000, 0);
    err = await loadConfig(file).catch((e) => e);
    assert.equal(err.fix, `run: chown root:root ${file}`);
    chownSync(file, 0, 0);
  }

  chmodSync(dir, 0o1777); // sticky does not help: anyone could add a sources file
  err = await loadConfig(file).catch((e) => e);
  assert.match(
    err.message,
    new RegExp(`config folder .* can be changed by ${others} \\(owner uid ${me}, mode 1777\\)`),
  );
  assert.equal(err.fix, `run: chmod go-w ${dir}`);
  chmodSync(dir, 0o700);

  writeFileSync(join(dir, 'sources'), '/home\n', { mode: 0o620 });
  chmodSync(join(dir, 'sources'), 0o620);
  err = await loadConfig(file).catch((e) => e);
  assert.match(err.message, new RegExp(`sources file .*sources can be changed by ${others}`));
});

test('a config reached through a symlinked folder: the real folder is checked too', async () => {
  const base = dirWith({});
  const real = join(base, 'real');
  mkdirSync(real, { mode: 0o777 });
  chmodSync(real, 0o777);
  writeFileSync(join(real, 'config.toml'), '[target]\n');
  const etc = join(base, 'etc');
  mkdirSync(etc, { mode: 0o700 });
  symlinkSync(join(real, 'config.toml'), join(etc, 'config.toml'));
  const err = await loadConfig(join(etc, 'config.toml')).catch((e) => e);
  assert.match(err.message, new RegExp(`config folder ${real} can be changed by ${others}`));
  symlinkSync(real, join(base, 'link'));
  const viaFolder = await loadConfig(join(base, 'link', 'config.toml')).catch((e) => e);
  assert.match(
    viaFolder.message,
    new RegExp(`config folder .* can be changed by ${others} \\(owner uid ${me}, mode 0777\\)`),
  );
});

test('a source path with a line break is refused', async () => {
  const dir = dirWith({ 'config.toml': '[target]\n', sources: '/a\rb\n' });
  const err = await loadConfig(join(dir, 'config.toml')).catch((e) => e);
  assert.match(err.message, /line break/);
});

test('messages name only sections of the README and docs/ that exist', () => {
  const headingsOf = (file: string) =>
    new Set([...readFileSync(file, 'utf8').matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.trim()));
  const named = new Map<string, Set<string>>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else
        for (const m of readFileSync(p, 'utf8').matchAll(
          /(README|docs\/\w+\.md)[,:]? (?:section )?["“]([^"”]+)["”]/g,
        )) {
          const file = m[1] === 'README' ? 'README.md' : m[1]!;
          named.set(file, (named.get(file) ?? new Set()).add(m[2]!));
        }
    }
  };
  walk('src');
  assert.ok(named.get('README.md')?.has('Configuration'), 'the config errors point at README "Configuration"');
  assert.ok(named.get('docs/GUIDE.md')?.has('A new backup disk'), 'the answers errors point at the guide');
  for (const [file, sections] of named) {
    const headings = headingsOf(file);
    for (const section of sections) assert.ok(headings.has(section), `${file} has a section "${section}"`);
  }
});

test('secrets must be private: the fix is the chmod', async () => {
  const dir = dirWith({ secret: 'x' });
  const f = join(dir, 'secret');
  chmodSync(f, 0o640);
  const err = await assertPrivateFile(f, 'token hash').catch((e) => e);
  // the file is the test's own (root's in npm test), so only the mode is wrong
  assert.ok(err instanceof UserError);
  assert.equal(err.fix, `run: chmod 600 ${f}`);
  chmodSync(f, 0o600);
  await assertPrivateFile(f, 'token hash');
});

test('retention: without [retention] nothing is ever deleted; with it, each key left out takes its default; "all" keeps every period', async () => {
  const none = await loadConfig(join(dirWith({ 'config.toml': '[target]\n' }), 'config.toml'));
  assert.equal(none.retention, undefined);
  const c = await loadConfig(
    join(
      dirWith({
        'config.toml':
          '[target]\nmin_free = "10%"\n[retention.target]\ndaily = 7\nyearly = "all"\n[status]\nmax_age = "36h"\n',
      }),
      'config.toml',
    ),
  );
  assert.deepEqual(c.retention?.target, {
    keepLast: 1,
    hourly: 24,
    daily: 7,
    weekly: 26,
    monthly: Infinity,
    yearly: Infinity,
  });
  assert.deepEqual(c.retention?.source, { keepLast: 3, hourly: 0, daily: 3, weekly: 0, monthly: 0, yearly: 0 });
  assert.deepEqual(c.target.minFree, { percent: 10 });
  assert.equal(c.maxAgeSeconds, 36 * 3600);
  const g = await loadConfig(join(dirWith({ 'config.toml': '[target]\nmin_free = "50G"\n' }), 'config.toml'));
  assert.deepEqual(g.target.minFree, { bytes: 50 * 1024 ** 3 });
});

test('retention, min_free and max_age: wrong values name the key, what is expected and an example', async () => {
  const err = await problemsOf(
    '[target]\nmin_free = "lots"\n[retention.source]\ndaily = -1\nhourly = "some"\nkeep_lats = 2\n[status]\nmax_age = 7\n',
  );
  assertEachHasFix(err);
  const text = err.problems.join('\n');
  assert.match(text, /target\.min_free/);
  assert.match(text, /retention\.source\.daily/);
  assert.match(text, /retention\.source\.hourly[\s\S]*a whole number of hours[\s\S]*or "all"/);
  assert.match(text, /keep_lats/);
  assert.match(text, /status\.max_age[\s\S]*"36h", "7d", "2w"/);
  assert.equal(err.problems.length, 5);
});
