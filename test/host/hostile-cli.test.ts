import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { makeScenario, type Scenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { RELEASE_BIN } from '../support/cli.js';
import { tempDir } from '../support/scratch.js';
import { sh } from '../support/sh.js';
import { tree } from '../support/tree.js';
import { sourceName } from '../../src/core/naming.js';
import { lockFile } from '../../src/system/lock.js';

// The command line's new surface tried from outside: the hidden `__complete` the shell
// completions ask, the bash and zsh completions run in real shells on a pseudo-terminal
// (a Tab, then Enter, with the words a hostile config or a person could put there), and
// --json in every error state. One scenario (a source with two backups on loop-device
// btrfs) serves every case; each writes its own configs beside the scenario's.

before(() => requireRoot());

let s: Scenario;
let work: string;
let bin: string;
let zdotdir: string;
let names: string[];

/** Source names a config may hold (one folder name: no "/", no line break), each hostile to a shell. */
const HOSTILE = {
  subst: "my $(touch pwned) 'q'",
  backtick: 'a`touch pwned`b; touch pwned & echo "x"',
  unicode: 'Fotos-Ünïcødé ☃',
  glob: 'g*[x]?{a,b}\\',
};

before(() => {
  s = makeScenario({ sizeMiB: 256 });
  writeFileSync(join(s.data, 'f.txt'), 'one');
  for (const content of ['one', 'two']) {
    writeFileSync(join(s.data, 'f.txt'), content);
    const r = s.cli(['backup', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
  }
  const list = JSON.parse(s.cli(['list', '--json', '--config', s.config]).stdout) as {
    sources: { snapshots: { name: string }[] }[];
  };
  names = list.sources[0]!.snapshots.map((x) => x.name);
  assert.equal(names.length, 2);

  work = join(s.dir, 'work');
  mkdirSync(work);
  // the completions call `btrfs-vault __complete` by PATH: the release build answers it;
  // any other run only shows the words the shell passed, one a line
  bin = join(s.dir, 'bin');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'btrfs-vault'),
    `#!/bin/sh\nif [ "$1" = __complete ]; then exec node ${RELEASE_BIN} "$@"; fi\nfor a in "$@"; do printf 'ARG<%s>\\n' "$a"; done\n`,
  );
  chmodSync(join(bin, 'btrfs-vault'), 0o755);
  zdotdir = join(s.dir, 'zsh');
  mkdirSync(join(zdotdir, 'functions'), { recursive: true });
  writeFileSync(join(zdotdir, 'functions', '_btrfs-vault'), readFileSync('dist/man/_btrfs-vault'));
  writeFileSync(
    join(zdotdir, '.zshrc'),
    `fpath=(${join(zdotdir, 'functions')} $fpath)\nautoload -Uz compinit\ncompinit -u -D\n`,
  );
});

after(() => s?.dispose());

/** A config of the case's own beside the scenario's (root's folder), with these sources. */
function config(name: string, sources: string, extra = ''): string {
  const file = join(s.configDir, `${name}.toml`);
  writeFileSync(
    file,
    `host = "testhost"\nsources = ${sources}\nsnapshot_dir = ${JSON.stringify(join(s.dir, `snap-${name}`))}\n${extra}\n` +
      `[target]\nmountpoint = ${JSON.stringify(s.dst.mountPoint)}\n`,
  );
  return file;
}

const hostileConfig = () =>
  config(
    'hostile',
    `[${Object.values(HOSTILE)
      .map((n, i) => `{ path = "/srv/hostile/${i}", name = ${JSON.stringify(n)} }`)
      .join(', ')}]`,
  );

/** `btrfs-vault __complete ...` as the completions run it: stdout, stderr, exit code and how long it took. */
function complete(args: string[], opts: { as?: number; timeoutMs?: number } = {}) {
  const start = process.hrtime.bigint();
  const r = spawnSync(
    opts.as === undefined ? 'node' : 'setpriv',
    [
      ...(opts.as === undefined ? [] : [`--reuid=${opts.as}`, `--regid=${opts.as}`, '--clear-groups', 'node']),
      RELEASE_BIN,
      '__complete',
      ...args,
    ],
    { encoding: 'utf8', timeout: opts.timeoutMs ?? 10_000, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.equal(r.error, undefined, `__complete ${args.join(' ')}: ${String(r.error)} (hung?)`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms };
}

/**
 * Types `keys` into an interactive bash or zsh on a pseudo-terminal (util-linux script)
 * in `work`, with the completion loaded: the keys queue up and the shell's line editor
 * takes them one by one, a Tab running the completion before the next key is read.
 * Returns the words a command line that ran passed to btrfs-vault, and the screen.
 */
function shell(kind: 'bash' | 'zsh', keys: string, env: Record<string, string> = {}) {
  const input = (kind === 'bash' ? `source ${join(process.cwd(), 'dist/man/btrfs-vault.bash')}\n` : '') + keys;
  const r = spawnSync(
    'script',
    ['-q', '-e', '-c', kind === 'bash' ? 'bash --norc --noprofile -i' : 'zsh -i', '/dev/null'],
    {
      cwd: work,
      input: `${input}\nexit\n`,
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        TERM: 'dumb',
        ZDOTDIR: zdotdir,
        HOME: s.dir,
        ...env,
      },
    },
  );
  assert.equal(r.error, undefined, `${kind}: ${String(r.error)}\n${r.stdout}`);
  const runs = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('ARG<'))
    .map((l) => l.replace(/\r$/, '').slice(4, -1));
  return { args: runs, screen: r.stdout };
}

/** Did the line run what it holds? (The marker is removed for the next case.) */
function pwned(): boolean {
  const made = existsSync(join(work, 'pwned'));
  rmSync(join(work, 'pwned'), { force: true });
  return made;
}

test('[the key press] __complete with a config that is missing, unreadable, invalid, a folder, a FIFO or /dev/stdin: nothing offered, exit 0, never hangs', (t) => {
  const dir = join(s.configDir, 'odd');
  mkdirSync(dir, { mode: 0o700 });
  const invalid = join(dir, 'invalid.toml');
  writeFileSync(invalid, 'sources = [\n');
  const newline = join(dir, 'newline.toml');
  writeFileSync(
    newline,
    `sources = [{ path = "/srv/a", name = "two\\nlines" }]\n[target]\nmountpoint = ${JSON.stringify(s.dst.mountPoint)}\n`,
  );
  const fifo = join(dir, 'fifo.toml');
  sh('mkfifo', [fifo]);
  const cases = [join(dir, 'missing.toml'), invalid, newline, dir, fifo, '/dev/stdin', '/dev/zero', '/proc/self/mem'];
  for (const file of cases) {
    for (const what of [['sources'], ['backups', 'x'], ['targets']]) {
      const r = complete([...what, '--config', file], { timeoutMs: 5000 });
      assert.equal(r.code, 0, `${file}: ${r.stderr}`);
      assert.equal(r.stdout, '', `${file} ${what.join(' ')}: nothing offered`);
      t.diagnostic(`${file.replace(s.dir, '')} ${what[0]}: ${r.ms.toFixed(0)} ms`);
    }
  }
});

test('[the key press] __complete as a user who cannot read the config: nothing offered, exit 0', () => {
  const file = hostileConfig();
  for (const what of ['sources', 'targets']) {
    const r = complete([what, '--config', file], { as: 65534 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
  }
});

test('[the key press] __complete with a disk-stack target that is not there: no program run, no device opened (strace), each answer fast', (t) => {
  // the scenario's source and snapshots; every layer of the stack, on disks not plugged in
  const file = join(s.configDir, 'stack.toml');
  writeFileSync(
    file,
    readFileSync(s.config, 'utf8').replace(
      /\[target\]\nmountpoint = .*\n/,
      `[target]\nmountpoint = "/media/hcli-absent"\nlayers = ["raid", "luks", "lvm"]\n` +
        `[targets.usb2]\nmountpoint = "/media/hcli-absent2"\nlayers = ["luks"]\n`,
    ),
  );
  const log = join(s.dir, 'strace.log');
  for (const what of [['sources'], ['backups', s.data], ['backups', sourceName(s.data)], ['targets']]) {
    rmSync(log, { force: true });
    const r = spawnSync(
      'strace',
      [
        '-f',
        '-qq',
        '-e',
        'trace=execve,open,openat',
        '-o',
        log,
        'node',
        RELEASE_BIN,
        '__complete',
        ...what,
        '--config',
        file,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const lines = readFileSync(log, 'utf8').split('\n');
    const execs = lines.filter((l) => /execve\(/.test(l) && !/ENOENT/.test(l));
    assert.equal(execs.length, 1, `only node itself starts:\n${execs.join('\n')}`);
    const devices = lines.filter((l) => /open(at)?\(.*"\/dev\/(?!null|urandom|random|tty|pts)/.test(l));
    assert.deepEqual(devices, [], 'no device opened');
    assert.ok(!lines.some((l) => l.includes('/media/hcli-absent')), 'the target is not looked at');
    if (what[0] === 'targets') assert.deepEqual(r.stdout.split('\n').filter(Boolean), ['backup', 'usb2']);
    if (what[0] === 'backups') assert.deepEqual(r.stdout.split('\n').filter(Boolean), [...names].reverse());
  }
  const times = [0, 1, 2, 3, 4]
    .map(() => complete(['backups', sourceName(s.data), '--config', file]).ms)
    .sort((a, b) => a - b);
  t.diagnostic(
    `__complete backups: median ${times[2]!.toFixed(0)} ms of 5 (${times.map((x) => x.toFixed(0)).join(', ')})`,
  );
  assert.ok(times[2]! < 1500, `a key press waits ${times[2]} ms`);
});

test('[the key press] __complete backups with 5,000 backups: every one, newest first, one a line, quickly', (t) => {
  const file = config('many', `[{ path = "/srv/many", name = "many" }]`);
  const folder = join(s.dir, 'snap-many', 'many');
  mkdirSync(folder, { recursive: true });
  const made: string[] = [];
  for (let i = 0; i < 5000; i++) {
    const d = new Date(Date.UTC(2020, 0, 1) + i * 3_600_000)
      .toISOString()
      .slice(0, 19)
      .replace('T', '_')
      .replaceAll(':', '-');
    mkdirSync(join(folder, d));
    made.push(d);
  }
  writeFileSync(join(folder, 'latest-not-a-backup'), '');
  const r = complete(['backups', 'many', '--config', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\n').filter(Boolean), made.reverse());
  t.diagnostic(`5,000 backups: ${r.ms.toFixed(0)} ms`);
  assert.ok(r.ms < 3000, `${r.ms} ms`);
});

test('[the key press] __complete backups: a snapshot folder that is a symlink out, and a backup folder on the disk that is a symlink to /: only backup names, nothing of elsewhere', () => {
  const file = config('links', `[{ path = "/srv/links", name = "links" }]`);
  const elsewhere = join(s.dir, 'elsewhere');
  mkdirSync(join(elsewhere, '2026-01-01_00-00-00'), { recursive: true });
  mkdirSync(join(elsewhere, 'etc'));
  writeFileSync(join(elsewhere, 'shadow'), 'secret');
  mkdirSync(join(s.dir, 'snap-links'));
  symlinkSync(elsewhere, join(s.dir, 'snap-links', 'links'));
  // on the (mounted) backup disk, the source's backup folder is a link to /
  symlinkSync('/', join(s.dst.mountPoint, 'links'));
  try {
    const r = complete(['backups', 'links', '--config', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean), ['2026-01-01_00-00-00'], 'only a backup name');
    const none = complete(['backups', '/', '--config', file]);
    assert.equal(none.stdout, '', 'a path that is no configured source offers nothing');
  } finally {
    rmSync(join(s.dst.mountPoint, 'links'));
  }
});

test('[the key press] __complete: a source named like an option (-x, --help, --version) after --: its backups; help or the version are never offered as words', () => {
  const file = config(
    'dashes',
    `[{ path = "/srv/d1", name = "-x" }, { path = "/srv/d2", name = "--help" }, { path = "/srv/d3", name = "--version" }]`,
  );
  for (const n of ['-x', '--help', '--version'])
    mkdirSync(join(s.dir, 'snap-dashes', n, names[0]!), { recursive: true });
  const sources = complete(['sources', '--config', file]);
  assert.deepEqual(
    sources.stdout.split('\n').filter(Boolean).sort(),
    ['--help', '--version', '-x', '/srv/d1', '/srv/d2', '/srv/d3'].sort(),
  );
  for (const n of ['-x', '--help', '--version']) {
    const r = complete(['backups', '--config', file, '--', n]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean), [names[0]], `backups of ${n}`);
  }
  // as the completions call it, whatever word stands where the source is
  for (const word of ['--help', '-h', '--version', '-V']) {
    const r = complete(['backups', '--config', file, '--', word]);
    assert.doesNotMatch(r.stdout, /Usage|^\d+\.\d+\.\d+$/m, word);
  }
});

/** A config whose sources are the hostile names, and one whose source path (which exists) holds $(…). */
function hostileLines(): { keys: string; word: string; file: string }[] {
  const file = hostileConfig();
  const lines = Object.values(HOSTILE).map((n) => ({
    keys: `btrfs-vault restore --config ${file} ${n[0]}\t\n`,
    word: n,
    file,
  }));
  const path = join(s.dir, "p $(touch pwned) 'q'");
  mkdirSync(path, { recursive: true });
  const byPath = config('bypath', `[${JSON.stringify(path)}]`);
  lines.push({ keys: `btrfs-vault backup --config ${byPath} ${join(s.dir, 'p')}\t\n`, word: path, file: byPath });
  return lines;
}

for (const kind of ['bash', 'zsh'] as const) {
  test(`[the key press] ${kind}: a source named with $(…), backticks, ;, &, quotes, globs or unicode: Tab, then Enter, passes that one word and runs nothing`, () => {
    for (const { keys, word, file } of hostileLines()) {
      const r = shell(kind, keys);
      assert.equal(pwned(), false, `${keys}: the shell ran what the name holds\n${r.screen}`);
      const command = keys.startsWith('btrfs-vault backup') ? 'backup' : 'restore';
      // a folder completed as a path ends in "/", as bash and zsh complete folders
      const got = r.args.map((x, i) => (i === 3 && command === 'backup' ? x.replace(/\/$/, '') : x));
      assert.deepEqual(got, [command, '--config', file, word], `${keys}\n${r.screen}`);
    }
  });

  test(`[the key press] ${kind}: $(…), backticks, ;, quotes and a line break typed on the line before a Tab run nothing`, () => {
    const file = hostileConfig();
    for (const line of [
      'btrfs-vault restore --config "$(touch pwned)" ',
      'btrfs-vault restore --config $(touch pwned) m',
      `btrfs-vault restore --config ${file} --to $(touch pwned)`,
      `btrfs-vault restore --config ${file} --path "\`touch pwned\``,
      'btrfs-vault --config `touch pwned` ',
      `btrfs-vault files --config ${file} ';touch pwned;' `,
      `btrfs-vault files --config ${file} my ;touch pwned; `,
      `btrfs-vault restore --config ${file} 'a\n$(touch pwned)`,
      `btrfs-vault restore --config ${file} m\\$(touch pwned)`,
      `btrfs-vault --target $(touch pwned) `,
    ]) {
      // Tab twice (a list), then Ctrl-C: the line is dropped, never run
      const r = shell(kind, `${line}\t\t\x03`);
      assert.equal(pwned(), false, `${line}: ran\n${r.screen}`);
      assert.deepEqual(r.args, [], `${line}: a command ran\n${r.screen}`);
    }
  });

  test(`[paths we are given] ${kind}: a --config written in quotes, with backslashes or ~/ still gives its sources and backups`, () => {
    const dir = join(s.dir, 'my etc');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'config.toml');
    writeFileSync(file, readFileSync(s.config, 'utf8').replace(/token_sha512.*\n/, ''));
    // the scenario's token hash beside it, as the config names it
    writeFileSync(join(dir, 'token.sha512'), readFileSync(join(s.configDir, 'token.sha512')), { mode: 0o600 });
    const newest = names[1]!;
    // the shortest start of the newest that the other backup's name does not share
    const unique = newest.slice(0, [...newest].findIndex((c, i) => c !== names[0]![i]) + 1);
    const name = sourceName(s.data);
    for (const [written, passed] of [
      [`--config '${file}'`, ['--config', file]],
      [`--config "${file}"`, ['--config', file]],
      [`--config ${file.replaceAll(' ', '\\ ')}`, ['--config', file]],
      [`--config ~/my\\ etc/config.toml`, ['--config', file]],
      [`--config='${file}'`, [`--config=${file}`]],
    ] as const) {
      const source = shell(kind, `btrfs-vault restore ${written} ${name.slice(0, 5)}\t\n`);
      assert.deepEqual(source.args, ['restore', ...passed, name], `${written}\n${source.screen}`);
      const backup = shell(kind, `btrfs-vault restore ${written} ${name} ${unique}\t\n`);
      assert.deepEqual(backup.args, ['restore', ...passed, name, newest], `${written}\n${backup.screen}`);
    }
  });
}

/** Everything a run could write: the subvolumes of both filesystems and every file on them. */
function state(): string {
  sh('sync', []);
  const subvolumes = [s.src.mountPoint, s.dst.mountPoint].map((m) =>
    sh('btrfs', ['subvolume', 'list', m]).replace(/ gen \d+/g, ''),
  );
  return JSON.stringify([subvolumes, tree(s.src.mountPoint), tree(s.dst.mountPoint)]);
}

const packageVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
const DOCUMENTED = [0, 1, 2, 3, 4];

/** stdout is one JSON object: `version` first, `ok`, and `exitCode` the exit code. */
function oneObject(r: { code: number; stdout: string; stderr: string }, what: string): Record<string, unknown> {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    assert.fail(`${what}: stdout is not one JSON object:\n${r.stdout}\n${r.stderr}`);
  }
  assert.equal(Object.keys(doc)[0], 'version', `${what}: version first`);
  assert.equal(doc.version, packageVersion, what);
  assert.equal(typeof doc.ok, 'boolean', `${what}: ok`);
  assert.equal(doc.exitCode, r.code, `${what}: exitCode is the exit code`);
  assert.ok(
    DOCUMENTED.includes(r.code),
    `${what}: exit ${r.code} is not one docs/COMMANDS.md gives to it\n${r.stderr}`,
  );
  return doc;
}

/** Every command line, with what it needs to get past its own arguments. */
function verbLines(): string[][] {
  const to = join(s.src.mountPoint, 'restore-to');
  mkdirSync(to, { recursive: true });
  const units = join(s.dir, 'units');
  return [
    ['backup'],
    ['backup', s.data, '--dry-run'],
    ['list'],
    ['status'],
    ['verify'],
    ['prune'],
    ['prune', '--dry-run'],
    ['files', s.data, 'f.txt'],
    ['restore', s.data, '--to', to],
    ['restore', s.data, names[0]!, '--path', 'f.txt', '--to', join(to, 'f.txt')],
    ['doctor'],
    ['open'],
    ['close'],
    ['schedule', 'install', '--root', units],
    ['schedule', 'remove', '--root', units],
    ['schedule', 'status'],
    ['setup', '--answers', join(s.dir, 'no-answers.toml'), '--dry-run'],
    ['add-mirror', '--disk', '/dev/null', '--confirm', 'x'],
  ];
}

test('[ordering and agreement] --json with a broken config, an unknown option, an option without its value: every command prints one object, exit 2, nothing written', () => {
  const bad = join(s.configDir, 'broken.toml');
  writeFileSync(bad, 'sources = [\n[target]\n');
  const before = state();
  for (const line of verbLines()) {
    const what = line.join(' ');
    const broken = s.cli([...line, '--json', '--config', bad]);
    assert.equal(broken.code, 2, `${what} (broken config): ${broken.stderr}`);
    oneObject(broken, `${what} (broken config)`);
    const unknown = s.cli([...line, '--no-such-option', '--json', '--config', s.config]);
    assert.equal(unknown.code, 2, `${what} --no-such-option: ${unknown.stderr}`);
    assert.match(String(oneObject(unknown, `${what} --no-such-option`).error), /unknown option '--no-such-option'/);
    const missing = s.cli([...line, '--json', '--config']);
    assert.equal(missing.code, 2, `${what} --config: ${missing.stderr}`);
    assert.match(String(oneObject(missing, `${what} --config`).error), /argument missing/);
  }
  assert.equal(state(), before, 'nothing written');
});

test('[ordering and agreement] --json as a user who is not root, every command: one object, an exit code COMMANDS.md gives (never 70, "a bug"), the fix says root', () => {
  // a config that user can read, in a folder only root can change
  const dir = tempDir('hcli-user');
  try {
    chmodSync(dir, 0o755);
    const file = join(dir, 'config.toml');
    writeFileSync(file, `host = "testhost"\nsources = ["/"]\n[target]\nmountpoint = "/media/hcli-absent"\n`);
    chmodSync(file, 0o644);
    const units = join(dir, 'units');
    mkdirSync(units);
    for (const line of verbLines()) {
      const args = line.map((a) => (a === join(s.dir, 'units') ? units : a));
      const what = args.join(' ');
      const r = spawnSync(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          'node',
          join('dist', 'test-bundle', 'btrfs-vault.cjs'),
          ...args,
          '--json',
          '--config',
          file,
        ],
        { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 },
      );
      const doc = oneObject({ code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }, `${what} (not root)`);
      const said = JSON.stringify(doc);
      if (/EACCES|EPERM|permission denied|not permitted/i.test(said))
        assert.match(said, /root/, `${what}: the fix names root\n${said}`);
    }
    assert.deepEqual(readdirSync(units), [], 'no unit written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('[paths we are given] the implicit backup takes --target as backup does: btrfs-vault --target backup SOURCE', () => {
  const r = s.cli(['--target', 'backup', s.data, '--dry-run', '--json', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  const doc = oneObject(r, '--target backup SOURCE') as { sources: { name: string }[] };
  assert.deepEqual(
    doc.sources.map((x) => x.name),
    [sourceName(s.data)],
  );
});

test('[ordering and agreement] --version and --help anywhere on a backup or restore line: shown, exit 0, nothing backed up or restored', () => {
  const before = state();
  const to = join(s.src.mountPoint, 'restore-to');
  mkdirSync(to, { recursive: true });
  for (const [flag, out] of [
    ['--version', new RegExp(`^${packageVersion}\\n$`)],
    ['--help', /^Usage: btrfs-vault/],
  ] as const) {
    for (const line of [
      ['backup', s.data, '--force', flag],
      [s.data, flag, '--force'],
      ['-b', flag, s.data],
      ['restore', s.data, '--to', to, flag, '--writable'],
    ]) {
      const r = s.cli([...line, '--config', s.config]);
      assert.equal(r.code, 0, `${line.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, out, line.join(' '));
    }
  }
  assert.equal(state(), before, 'nothing written');
});

/** scripts/deb.mjs into a folder of its own; the path of the .deb. */
function buildDeb(env: Record<string, string> = {}): string {
  const out = tempDir('hcli-deb');
  const r = spawnSync('node', ['scripts/deb.mjs', out], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, r.stderr);
  return join(out, `btrfs-vault_${packageVersion}_all.deb`);
}

// the .deb of this build with the packager's environment, made once for the cases that only read it
let sharedDeb: string | undefined;
const theDeb = () => (sharedDeb ??= buildDeb());
after(() => {
  if (sharedDeb) rmSync(join(sharedDeb, '..'), { recursive: true, force: true });
});

/** `dpkg-deb -c`: mode, owner and path of each entry. */
function debEntries(deb: string): { mode: string; owner: string; path: string }[] {
  return sh('dpkg-deb', ['-c', deb])
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [mode, owner, , , , ...path] = l.split(/\s+/);
      return { mode: mode!, owner: owner!, path: path.join(' ').replace(/ -> .*$/, '') };
    });
}

test("[the release build] the .deb built twice is the same bytes, its files are root's with the right modes, nothing outside /usr, and dpkg -x unpacks it", () => {
  const a = theDeb();
  const b = buildDeb();
  try {
    assert.ok(readFileSync(a).equals(readFileSync(b)), 'two builds, one set of bytes');
    const entries = debEntries(a);
    assert.ok(entries.length > 20);
    for (const e of entries) {
      assert.equal(e.owner, 'root/root', `${e.path} is root's`);
      assert.ok(e.path === './' || /^\.\/usr\//.test(e.path), `${e.path}: only under /usr`);
      const want = e.mode.startsWith('d') || e.path === './usr/sbin/btrfs-vault' ? /^[d-]rwxr-xr-x$/ : /^-rw-r--r--$/;
      assert.match(e.mode, want, e.path);
    }
    const root = tempDir('hcli-x');
    try {
      sh('dpkg', ['-x', a, root]);
      for (const f of [
        'usr/sbin/btrfs-vault',
        'usr/lib/btrfs-vault/launch.cjs',
        'usr/share/man/man8/btrfs-vault.8.gz',
        'usr/share/bash-completion/completions/btrfs-vault',
        'usr/share/zsh/vendor-completions/_btrfs-vault',
        'usr/share/doc/btrfs-vault/copyright',
      ])
        assert.ok(existsSync(join(root, f)), f);
      // the launcher runs the bundle it names, and that bundle is in the package
      assert.match(
        readFileSync(join(root, 'usr/sbin/btrfs-vault'), 'utf8'),
        /^#!\/usr\/bin\/node\n[\s\S]*'\/usr\/lib\/btrfs-vault'/,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    // the maintainer script: sh, set -e, and it deletes only btrfs-vault's own two folders
    const control = tempDir('hcli-ctl');
    try {
      sh('dpkg-deb', ['-e', a, control]);
      assert.deepEqual(readdirSync(control).sort(), ['control', 'md5sums', 'postrm']);
      const postrm = readFileSync(join(control, 'postrm'), 'utf8');
      assert.match(postrm, /^#!\/bin\/sh\nset -e\n/);
      for (const m of postrm.matchAll(/rm -rf ([^;\n]+)/g))
        for (const p of m[1]!.trim().split(/\s+/))
          assert.match(p, /^\/var\/(cache|lib)\/btrfs-vault$/, `postrm deletes ${p}`);
    } finally {
      rmSync(control, { recursive: true, force: true });
    }
  } finally {
    rmSync(join(b, '..'), { recursive: true, force: true });
  }
});

test("[what we delete] the .deb installed, removed and purged with dpkg --root in a throw-away root: postrm deletes only that root's cache and record, a cache folder that is a link loses only the link, the machine's are untouched", () => {
  const deb = theDeb();
  const root = tempDir('hcli-root');
  // the machine's own cache folder: a file of ours there must outlive the package's removal in the other root
  mkdirSync('/var/cache/btrfs-vault', { recursive: true, mode: 0o700 });
  const marker = join('/var/cache/btrfs-vault', `hcli-marker-${process.pid}`);
  writeFileSync(marker, '');
  try {
    for (const d of [
      'bin',
      'var/lib/dpkg/info',
      'var/lib/dpkg/updates',
      'var/cache/btrfs-vault',
      'var/lib/btrfs-vault',
      'keep',
    ])
      mkdirSync(join(root, d), { recursive: true });
    // maintainer scripts run chrooted: a static shell is all they need
    writeFileSync(join(root, 'bin/sh'), readFileSync('/bin/busybox'), { mode: 0o755 });
    writeFileSync(join(root, 'var/lib/dpkg/status'), '');
    writeFileSync(join(root, 'var/cache/btrfs-vault/cli.cjs.0123456789abcdef0123456789abcdef.v8'), 'cache');
    writeFileSync(join(root, 'var/lib/btrfs-vault/record.json'), '{}');
    writeFileSync(join(root, 'keep/file'), 'a user file');
    const dpkg = (...args: string[]) => sh('dpkg', [`--root=${root}`, '--log=/dev/null', '--force-depends', ...args]);
    dpkg('-i', deb);
    assert.ok(existsSync(join(root, 'usr/sbin/btrfs-vault')));
    dpkg('-r', 'btrfs-vault');
    assert.ok(!existsSync(join(root, 'usr/lib/btrfs-vault')), 'its files went');
    assert.ok(!existsSync(join(root, 'var/cache/btrfs-vault')), 'remove: the cache went');
    assert.ok(existsSync(join(root, 'var/lib/btrfs-vault/record.json')), 'remove: the record stays');
    dpkg('-i', deb);
    symlinkSync('/keep', join(root, 'var/cache/btrfs-vault'));
    dpkg('-P', 'btrfs-vault');
    assert.ok(!existsSync(join(root, 'var/lib/btrfs-vault')), 'purge: the record went');
    assert.equal(readFileSync(join(root, 'keep/file'), 'utf8'), 'a user file', 'through the link: nothing deleted');
    assert.ok(existsSync(marker), "the machine's cache folder is untouched");
  } finally {
    rmSync(marker, { force: true });
    rmSync(root, { recursive: true, force: true });
  }
});

test('[paths we are given] every docs/ file the README, the man page, --help and the messages name is in the .deb beside the README and in the npm tarball', () => {
  const named = new Set<string>();
  const scan = (text: string) => {
    for (const m of text.matchAll(/\bdocs\/([A-Z]+\.md)/g)) named.add(m[1]!);
  };
  scan(readFileSync('README.md', 'utf8'));
  scan(readFileSync('dist/man/btrfs-vault.8', 'utf8'));
  scan(readFileSync('dist/bundle/cli.cjs', 'utf8'));
  scan(readFileSync('dist/bundle/commands.cjs', 'utf8'));
  assert.ok(named.has('GUIDE.md') && named.has('JSON.md'), [...named].join(' '));
  const paths = new Set(debEntries(theDeb()).map((e) => e.path));
  const doc = './usr/share/doc/btrfs-vault';
  assert.ok(paths.has(`${doc}/README.md`) || paths.has(`${doc}/README.md.gz`), 'the README');
  for (const f of named)
    assert.ok(paths.has(`${doc}/docs/${f}`) || paths.has(`${doc}/docs/${f}.gz`), `.deb: ${doc}/docs/${f}`);
  const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' });
  assert.equal(pack.status, 0, pack.stderr);
  const files = new Set((JSON.parse(pack.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
  assert.ok(files.has('README.md'));
  for (const f of named) assert.ok(files.has(`docs/${f}`), `npm tarball: docs/${f}`);
});

test("the .deb's Maintainer is package.json's author, or the packager's DEBFULLNAME and DEBEMAIL", () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { author?: string };
  assert.match(pkg.author ?? '', /^[^<>]+ <[^@\s<>]+@[^@\s<>]+\.[a-z]+>$/, 'package.json: "author": "Name <address>"');
  const field = (deb: string) => {
    try {
      return sh('dpkg-deb', ['-f', deb, 'Maintainer']).trim();
    } finally {
      rmSync(join(deb, '..'), { recursive: true, force: true });
    }
  };
  assert.equal(field(buildDeb({ DEBFULLNAME: '', DEBEMAIL: '' })), pkg.author);
  assert.equal(
    field(buildDeb({ DEBFULLNAME: 'Jane Packager', DEBEMAIL: 'jane@example.org' })),
    'Jane Packager <jane@example.org>',
  );
});

test("[paths we are given] a usage error with --json names the command it is about, even when a word of the line is another command's name", () => {
  for (const [line, about, error] of [
    [['restore', 'backup', '--bogus'], 'restore', /unknown option '--bogus'/],
    [['files', 'list', 'status', '--bogus'], 'files', /unknown option '--bogus'/],
    [['--config', s.config, 'list', 'backup', '--bogus'], 'list', /unknown option '--bogus'/],
    [['schedule', 'install', '--bogus'], 'schedule install', /unknown option '--bogus'/],
    [['help', 'frob'], '', /unknown command 'frob'/],
  ] as const) {
    const r = s.cli([...line, '--json']);
    assert.equal(r.code, 2, `${line.join(' ')}: ${r.stderr}`);
    const doc = oneObject(r, line.join(' '));
    assert.match(String(doc.error), error, line.join(' '));
    assert.equal(doc.fix, `see: btrfs-vault ${about ? `${about} ` : ''}--help`, line.join(' '));
    assert.ok(r.stderr.includes(`fix: see: btrfs-vault ${about ? `${about} ` : ''}--help`), r.stderr);
  }
});

test('[ordering and agreement] __complete offers what the verbs take: every source by name and path as list names them, targets as status names them, and backups of a source named through a symlink', () => {
  const sources = complete(['sources', '--config', s.config]).stdout.split('\n').filter(Boolean);
  const list = JSON.parse(s.cli(['list', '--json', '--config', s.config]).stdout) as {
    sources: { name: string; source: string }[];
  };
  assert.deepEqual(
    sources,
    list.sources.flatMap((x) => [x.name, x.source]),
  );
  const status = JSON.parse(s.cli(['status', '--json', '--config', s.config]).stdout) as {
    targets?: { name: string }[];
  };
  const targets = complete(['targets', '--config', s.config]).stdout.split('\n').filter(Boolean);
  assert.deepEqual(
    targets,
    (status.targets ?? [{ name: 'backup' }]).map((t) => t.name),
  );
  // restore takes /home through a symlink to it; the Tab after it offers the same backups
  const link = join(s.dir, 'data-link');
  symlinkSync(s.data, link);
  mkdirSync(join(s.src.mountPoint, 'restore-to'), { recursive: true });
  for (const given of [link, join(s.src.mountPoint, '.', 'data')]) {
    const r = complete(['backups', '--config', s.config, '--', given]);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean), [...names].reverse(), given);
    const restore = s.cli([
      'restore',
      given,
      names[0]!,
      '--dry-run',
      '--json',
      '--config',
      s.config,
      '--to',
      join(s.src.mountPoint, 'restore-to'),
    ]);
    assert.equal(restore.code, 0, restore.stderr);
  }
});

test("[paths we are given] --json as an option's value or after --: a word, not the switch, so no JSON on stdout; the switch itself still gives it", () => {
  for (const [line, json] of [
    [['restore', s.data, '--to', '--json'], false],
    [['list', '--', '--json'], false],
    [['files', s.data, '--json'], true],
  ] as const) {
    const r = s.cli([...line, '--config', s.config]);
    assert.equal(r.code, 2, `${line.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /btrfs-vault: |error: /, line.join(' '));
    if (json) oneObject(r, line.join(' '));
    else assert.equal(r.stdout, '', `${line.join(' ')}: JSON nobody asked for`);
  }
});

test("[two of us at once] a Tab while another run holds the backup disk's lock answers at once: __complete takes no lock", async (t) => {
  const file = lockFile(`target ${s.dst.mountPoint}`);
  const made = !existsSync(file);
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  // --no-fork: the lock is the holder's own, so stopping it frees the lock
  const holder = spawn('flock', ['--no-fork', '-x', file, 'sleep', '60'], { stdio: 'ignore' });
  try {
    // the lock is held: a run that needs it says so (exit 4)
    let locked = -1;
    for (let i = 0; i < 50 && locked !== 4; i++) {
      await new Promise((r) => setTimeout(r, 100));
      locked = s.cli(['prune', '--config', s.config]).code;
    }
    assert.equal(locked, 4, 'the lock is held');
    for (const what of [['sources'], ['backups', sourceName(s.data)], ['targets']]) {
      const r = complete([...what, '--config', s.config], { timeoutMs: 5000 });
      assert.equal(r.code, 0, r.stderr);
      assert.notEqual(r.stdout, '', what.join(' '));
      t.diagnostic(`${what[0]} with the lock held: ${r.ms.toFixed(0)} ms`);
      assert.ok(r.ms < 1500, `${what[0]}: ${r.ms} ms`);
    }
  } finally {
    holder.kill('SIGTERM');
    await new Promise((r) => holder.once('close', r));
    if (made) rmSync(file, { force: true });
  }
});

test('[programs we run] __complete whose reader goes away at the first line (a shell that stopped listening): exits quietly, no stack trace', () => {
  // the 5,000 backups of the case above: more than a pipe holds, so the writes after head left fail
  const file = join(s.configDir, 'many.toml');
  assert.ok(existsSync(file), 'run with the case of 5,000 backups');
  const r = spawnSync('bash', ['-c', `node ${RELEASE_BIN} __complete backups many --config ${file} | head -n 1`], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.split('\n').filter(Boolean).length, 1);
  assert.equal(r.stderr, '', 'nothing on the terminal');
});

test('[the key press] bash: after --, a source named like an option (-x) is the source, and Tab offers its backups', () => {
  const file = join(s.configDir, 'dashes.toml');
  const r = shell('bash', `btrfs-vault restore --config ${file} -- -x ${names[0]!.slice(0, 4)}\t\n`);
  assert.deepEqual(r.args, ['restore', '--config', file, '--', '-x', names[0]], r.screen);
});

test('[the release build] the npm tarball: the release bundle, man page, completions, README and docs; no test build, no test sources', () => {
  const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' });
  assert.equal(pack.status, 0, pack.stderr);
  const files = (JSON.parse(pack.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  for (const f of files)
    assert.match(f, /^(bin\/|dist\/bundle\/|dist\/man\/|docs\/[A-Z]+\.md$|README\.md$|LICENSE$|package\.json$)/, f);
  for (const f of ['bin/btrfs-vault.js', 'dist/bundle/launch.cjs', 'dist/man/btrfs-vault.8', 'dist/man/_btrfs-vault'])
    assert.ok(files.includes(f), f);
  assert.ok(!files.some((f) => /test/.test(f)), 'no test build');
});

test("[secrets] a broken config holding a notify URL with its key: the --json error, the message and __complete's stderr never show the key", () => {
  const file = join(s.configDir, 'secret.toml');
  for (const broken of [
    `url = "https://hc-ping.com/SECRETKEY4711"\ntimeout = "soon"`,
    `url = "not a url SECRETKEY4711"`,
    `url = "https://hc-ping.com/SECRETKEY4711"\ncommand = 5`,
  ]) {
    writeFileSync(
      file,
      `host = "testhost"\nsources = [${JSON.stringify(s.data)}]\n[notify]\n${broken}\n[target]\nmountpoint = ${JSON.stringify(s.dst.mountPoint)}\n`,
    );
    for (const line of [['list'], ['status'], ['backup', '--dry-run'], ['schedule', 'status']]) {
      const r = s.cli([...line, '--json', '--config', file]);
      assert.equal(r.code, 2, `${line.join(' ')}: ${r.stderr}`);
      oneObject(r, line.join(' '));
      assert.doesNotMatch(r.stdout + r.stderr, /SECRETKEY4711/, `${line.join(' ')} with ${broken}`);
    }
    const c = complete(['sources', '--config', file]);
    assert.doesNotMatch(c.stdout + c.stderr, /SECRETKEY4711/, broken);
  }
});

test('[what we write into other formats] a --config path with quotes, a line break, $, a backslash and unicode: the --json error is one object that names it exactly', () => {
  const dir = join(s.dir, 'odd "dir"\n$HOME \\ ü');
  mkdirSync(dir, { mode: 0o700 });
  const file = join(dir, "it's.toml");
  for (const line of [['list'], ['status'], ['restore', s.data, '--to', s.dir], ['schedule', 'install', '--dry-run']]) {
    const r = s.cli([...line, '--json', '--config', file]);
    assert.equal(r.code, 2, r.stderr);
    const doc = oneObject(r, line.join(' '));
    assert.ok(String(doc.error).includes(file), `${line.join(' ')}: ${String(doc.error)}`);
  }
});

test('[the key press] a sources file of 2,000 paths: __complete sources offers each name and path once, quickly', (t) => {
  const dir = join(s.configDir, 'big');
  mkdirSync(dir, { mode: 0o700 });
  const file = join(dir, 'config.toml');
  writeFileSync(file, `host = "testhost"\n[target]\nmountpoint = ${JSON.stringify(s.dst.mountPoint)}\n`);
  const paths = Array.from({ length: 2_000 }, (_, i) => `/srv/many/p${i}`);
  writeFileSync(join(dir, 'sources'), `${paths.join('\n')}\n`, { mode: 0o600 });
  const r = complete(['sources', '--config', file]);
  assert.equal(r.code, 0, r.stderr);
  const words = r.stdout.split('\n').filter(Boolean);
  assert.equal(words.length, 4_000);
  assert.equal(new Set(words).size, 4_000);
  t.diagnostic(`2,000 sources: ${r.ms.toFixed(0)} ms`);
  assert.ok(r.ms < 3000, `${r.ms} ms`);
});

test('[ordering and agreement] a refused combination or value on any verb, with --json: one object, exit 2, nothing written', () => {
  const before = state();
  const to = join(s.src.mountPoint, 'restore-to');
  mkdirSync(to, { recursive: true });
  for (const line of [
    ['backup', '-S', s.data],
    ['backup', '--target', 'nope'],
    ['verify', '--full', '--target', 'nope'],
    ['prune', '--target', 'nope'],
    ['files', s.data, '../../etc/shadow'],
    ['schedule', 'install', '--every', ';touch x', '--root', join(s.dir, 'units')],
    ['restore', s.data, '--to', to, '--before', 'soon'],
    ['restore', s.data, 'not-a-backup', '--to', to],
    ['add-mirror'],
    ['setup', '--dry-run'],
  ]) {
    const r = s.cli([...line, '--json', '--config', s.config]);
    assert.equal(r.code, 2, `${line.join(' ')}: ${r.stderr}`);
    const doc = oneObject(r, line.join(' '));
    assert.equal(doc.ok, false);
    assert.ok(typeof doc.error === 'string' && doc.error.length > 0, `${line.join(' ')}: says why`);
  }
  assert.equal(state(), before, 'nothing written');
});

test('[paths we are given] a mistyped source name on every verb that takes one (backup, verify, prune, list, files, restore; with and without --json): one refusal, exit 2, the same message and fix, nothing written; __complete backups offers nothing', () => {
  const to = join(s.src.mountPoint, 'typo-to');
  mkdirSync(to, { recursive: true });
  const typo = 'dat-typo';
  const lines = [
    ['backup', typo],
    ['backup', typo, '--dry-run'],
    ['verify', typo],
    ['prune', typo],
    ['prune', typo, '--dry-run'],
    ['list', typo],
    ['files', typo, 'f.txt'],
    ['restore', typo, '--to', to],
    ['restore', typo, names[0]!, '--path', 'f.txt', '--to', join(to, 'f.txt')],
  ];
  const before = state();
  const said = new Set<string>();
  const saidJson = new Set<string>();
  for (const line of lines) {
    const what = line.join(' ');
    const r = s.cli([...line, '--config', s.config]);
    assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`"${typo}" is no source`), `${what}: ${r.stderr}`);
    said.add(r.stderr);
    const j = s.cli([...line, '--json', '--config', s.config]);
    assert.equal(j.code, 2, `${what} --json: exit ${j.code}\n${j.stdout}\n${j.stderr}`);
    const doc = oneObject(j, `${what} --json`);
    saidJson.add(JSON.stringify([doc.error, doc.fix]));
  }
  assert.equal(said.size, 1, `one message on every verb:\n${[...said].join('\n---\n')}`);
  assert.equal(saidJson.size, 1, `one error and fix on every verb:\n${[...saidJson].join('\n')}`);
  const [error, fix] = JSON.parse([...saidJson][0]!) as [string, string];
  assert.ok(fix.includes(sourceName(s.data)), `the fix names the configured sources: ${fix}`);
  assert.ok([...said][0]!.includes(error), 'the same words with and without --json');
  assert.equal(state(), before, 'nothing written');
  const c = complete(['--config', s.config, 'backups', typo]);
  assert.deepEqual([c.code, c.stdout, c.stderr], [0, '', '']);
});
