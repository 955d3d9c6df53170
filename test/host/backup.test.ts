import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tracedBtrfs } from '../support/btrfs-trace.js';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
  appendFileSync,
  existsSync,
} from 'node:fs';
import { join } from 'node:path';
import { allSubvolumes, json, streamSize, withScenario } from '../support/scenario.js';
import { tree } from '../support/tree.js';
import { requireRoot } from '../support/loop-disk.js';
import { scratchDir } from '../support/scratch.js';
import { sourceName } from '../../src/core/naming.js';
import { BIN } from '../support/cli.js';
import { sh } from '../support/sh.js';
import { waitFor } from '../support/wait.js';

// Real btrfs on loop devices this test creates. Needs root; without it the run fails.
before(() => requireRoot());

function writeData(dir: string, bigMiB: number, small: number) {
  execFileSync('head', ['-c', `${bigMiB}M`, '/dev/urandom'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 2 ** 31,
  });
  execFileSync('dd', ['if=/dev/urandom', `of=${join(dir, 'big.bin')}`, 'bs=1M', `count=${bigMiB}`, 'status=none']);
  mkdirSync(join(dir, 'small'), { recursive: true });
  for (let i = 0; i < small; i++)
    writeFileSync(join(dir, 'small', `f${i}.txt`), `file ${i} ${Math.random()}\n`.repeat(20));
}

test(
  'full then incremental: contents equal, incremental stream is a small fraction, latest/previous move on both sides',
  withScenario((s) => {
    writeData(s.data, 32, 200);
    const full = s.cli(['backup', '--json', '--config', s.config]);
    assert.equal(full.code, 0, full.stderr);
    const f = json(full).sources[0];
    assert.equal(f.mode, 'full');
    appendFileSync(join(s.data, 'small', 'f7.txt'), 'changed\n');
    writeFileSync(join(s.data, 'new.txt'), 'new file');
    const incr = s.cli(['backup', '--json', '--config', s.config]);
    assert.equal(incr.code, 0, incr.stderr);
    const i = json(incr).sources[0];
    assert.equal(i.mode, 'incremental');
    assert.equal(i.parent, f.snapshot);
    const name = sourceName(s.data);
    const srcDir = join(s.src.mountPoint, 'snapshots', name);
    // the streams btrfs-vault sent, measured on their own: full vs incremental from the chosen parent
    const fullStream = streamSize(['send', '-q', join(srcDir, f.snapshot)]);
    const incrStream = streamSize(['send', '-q', '-p', join(srcDir, i.parent), join(srcDir, i.snapshot)]);
    assert.ok(fullStream > 32 * 1024 * 1024, `full stream ${fullStream} carries the data`);
    assert.ok(incrStream < fullStream / 50, `incremental stream ${incrStream} is a small fraction of ${fullStream}`);
    // the totals are what went through the pipe, to the byte
    assert.deepEqual([f.bytes, i.bytes], [fullStream, incrStream]);
    const dstDir = join(s.dst.mountPoint, name);
    for (const dir of [srcDir, dstDir]) {
      assert.equal(readlinkSync(join(dir, 'latest')), i.snapshot);
      assert.equal(readlinkSync(join(dir, 'previous')), f.snapshot);
    }
    assert.deepEqual(tree(join(dstDir, 'latest')), tree(join(srcDir, 'latest')));
    assert.deepEqual(tree(join(dstDir, f.snapshot)), tree(join(srcDir, f.snapshot)));
    assert.deepEqual(tree(join(dstDir, 'latest')), tree(s.data), 'the backup equals the live data at backup time');
    const show = sh('btrfs', ['subvolume', 'show', join(dstDir, i.snapshot)]);
    assert.match(show, /Flags:\s+readonly/);

    const list = json(s.cli(['list', '--json', '--config', s.config]));
    const rows = list.sources[0].snapshots;
    assert.equal(rows.length, 2);
    assert.ok(rows.every((r: { paired: boolean }) => r.paired));
    assert.ok(rows[1].latestSource && rows[1].latestTarget);
  }),
);

test(
  '[signals and power] receive killed with SIGKILL mid-stream: nothing half-done stays, latest unchanged, next run is incremental',
  withScenario(async (s) => {
    writeFileSync(join(s.data, 'seed'), 'seed');
    assert.equal(s.cli(['--config', s.config]).code, 0);
    const name = sourceName(s.data);
    const dstDir = join(s.dst.mountPoint, name);
    const latestBefore = readlinkSync(join(dstDir, 'latest'));
    execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, 'big.bin')}`, 'bs=1M', 'count=400', 'status=none']);

    // kill both the receiver and btrfs-vault itself, as a crash would
    const child = s.spawnCli(['--config', s.config]);
    const partial = await waitFor(() =>
      readdirSync(dstDir).find((n) => n !== latestBefore && !['latest', 'previous'].includes(n) && !n.startsWith('.')),
    );
    execFileSync('pkill', ['-KILL', '-f', `btrfs receive -- ${dstDir}`]);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    assert.equal(readlinkSync(join(dstDir, 'latest')), latestBefore, 'latest still points at the complete backup');
    const listed = json(s.cli(['list', '--json', '--config', s.config]));
    assert.deepEqual(listed.sources[0].incomplete, [partial], 'list reports the incomplete copy');

    const next = s.cli(['--json', '--config', s.config]);
    assert.equal(next.code, 0, next.stderr);
    const r = json(next).sources[0];
    assert.deepEqual(r.cleaned, [join(dstDir, partial)]);
    assert.equal(r.mode, 'incremental');
    assert.equal(r.parent, latestBefore);
    assert.ok(!existsSync(join(dstDir, partial)));
    assert.deepEqual(tree(join(dstDir, 'latest')), tree(s.data));
  }),
);

test(
  '[signals and power] SIGINT and SIGTERM during a transfer: partial copy deleted, source snapshot kept, latest unchanged, exit 130/143',
  withScenario(async (s) => {
    writeFileSync(join(s.data, 'seed'), 'seed');
    assert.equal(s.cli(['--config', s.config]).code, 0);
    const name = sourceName(s.data);
    const dstDir = join(s.dst.mountPoint, name);
    const srcDir = join(s.src.mountPoint, 'snapshots', name);
    for (const [signal, exitCode] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      const latestBefore = readlinkSync(join(dstDir, 'latest'));
      execFileSync('dd', [
        'if=/dev/urandom',
        `of=${join(s.data, `big-${signal}.bin`)}`,
        'bs=1M',
        'count=300',
        'status=none',
      ]);
      const child = s.spawnCli(['--config', s.config]);
      const known = new Set(readdirSync(dstDir));
      const partial = await waitFor(() => readdirSync(dstDir).find((n) => !known.has(n) && !n.startsWith('.')));
      child.kill(signal);
      const code = await new Promise((r) => child.on('close', r));
      assert.equal(code, exitCode, signal);
      assert.ok(!existsSync(join(dstDir, partial)), `${signal}: the partial copy is gone`);
      assert.ok(existsSync(join(srcDir, partial)), `${signal}: the complete source snapshot is kept`);
      assert.equal(readlinkSync(join(dstDir, 'latest')), latestBefore);
      assert.equal(readlinkSync(join(srcDir, 'latest')), latestBefore);
      const next = json(s.cli(['--json', '--config', s.config])).sources[0];
      assert.equal(next.mode, 'incremental');
    }
  }),
);

test(
  'a wrong or missing token writes nothing and exits 3',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), 'x');
    const before = allSubvolumes(s);
    writeFileSync(join(s.dst.mountPoint, '.token'), 'someone else');
    const r = s.cli(['--config', s.config]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /refusing the backup filesystem.*does not match.*foreign disk/s);
    sh('rm', [join(s.dst.mountPoint, '.token')]);
    const r2 = s.cli(['--config', s.config]);
    assert.equal(r2.code, 3);
    assert.match(r2.stderr, /no token file/);
    assert.equal(allSubvolumes(s), before, 'no snapshot, no received subvolume');
    assert.deepEqual(readdirSync(s.dst.mountPoint), [], 'nothing written to the target');
  }),
);

test(
  '[two of us at once] a second run on the same config exits 4 at once; the first is not disturbed',
  withScenario(async (s) => {
    execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, 'big.bin')}`, 'bs=1M', 'count=300', 'status=none']);
    const first = s.spawnCli(['--config', s.config]);
    const dstDir = join(s.dst.mountPoint, sourceName(s.data));
    await waitFor(() => existsSync(dstDir) && readdirSync(dstDir).length > 0);
    const second = s.cli(['--config', s.config]);
    assert.equal(second.code, 4);
    assert.match(second.stderr, /another btrfs-vault run \(pid \d+, config .*\) is working with the backup target/);
    const code = await new Promise((r) => first.on('close', r));
    assert.equal(code, 0);
    assert.equal(readdirSync(dstDir).filter((n) => /^\d{4}-/.test(n)).length, 1);
  }),
);

test(
  'bad input: clear message, exit 2, nothing written',
  withScenario((s) => {
    const before = allSubvolumes(s);
    const folder = join(s.src.mountPoint, 'plainfolder');
    mkdirSync(folder);
    const cases: [string[], RegExp][] = [
      [[join(s.src.mountPoint, 'missing')], /does not exist/],
      [[s.dir], /on a \w+ filesystem, not btrfs/],
      [[folder], /is a folder, not a btrfs subvolume/],
    ];
    for (const [args, msg] of cases) {
      const r = s.cli(['backup', '--config', s.config, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
    }
    writeFileSync(s.config, readFileSync(s.config, 'utf8') + 'colour = "blue"\n');
    const unknown = s.cli(['--config', s.config]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown key colour/);
    writeFileSync(s.config, 'sources = [\n');
    const syntax = s.cli(['--config', s.config]);
    assert.equal(syntax.code, 2);
    assert.match(syntax.stderr, /TOML syntax error/);
    assert.equal(allSubvolumes(s), before);
  }),
);

test(
  'bad target: not mounted, not btrfs, same filesystem as the source',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), 'x');
    const before = allSubvolumes(s);
    const base = readFileSync(s.config, 'utf8');
    const unmounted = join(s.dir, 'nothing-here');
    mkdirSync(unmounted);
    writeFileSync(s.config, base.replace(/mountpoint = .*/, `mountpoint = ${JSON.stringify(unmounted)}`));
    let r = s.cli(['--config', s.config]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /not mounted at/);
    const tmpfs = join(s.dir, 'tmpfs');
    mkdirSync(tmpfs);
    sh('mount', ['-t', 'tmpfs', 'none', tmpfs]);
    try {
      writeFileSync(s.config, base.replace(/mountpoint = .*/, `mountpoint = ${JSON.stringify(tmpfs)}`));
      r = s.cli(['--config', s.config]);
      assert.equal(r.code, 3);
      assert.match(r.stderr, /holds a tmpfs filesystem.*not btrfs/);
    } finally {
      sh('umount', [tmpfs]);
    }
    // the source filesystem as target: token and all, still refused
    writeFileSync(join(s.src.mountPoint, '.token'), s.token);
    writeFileSync(s.config, base.replace(/mountpoint = .*/, `mountpoint = ${JSON.stringify(s.src.mountPoint)}`));
    r = s.cli(['--config', s.config]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /same filesystem/);
    assert.equal(allSubvolumes(s), before);
  }),
);

test(
  'token hash readable by others is refused with the chmod that fixes it',
  withScenario((s) => {
    chmodSync(join(s.configDir, 'token.sha512'), 0o644);
    const r = s.cli(['--config', s.config]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /chmod 600 .*token\.sha512/);
    assert.deepEqual(readdirSync(s.dst.mountPoint), ['.token']);
  }),
);

test(
  '[paths we are given] path names with spaces and non-ASCII work; a line break is refused',
  withScenario(
    (s) => {
      writeFileSync(join(s.data, 'datei mit ä.txt'), 'ü');
      const r = s.cli(['--json', '--config', s.config]);
      assert.equal(r.code, 0, r.stderr);
      const dstDir = join(s.dst.mountPoint, sourceName(s.data));
      assert.deepEqual(tree(join(dstDir, 'latest')), tree(s.data));
      const weird = join(s.src.mountPoint, 'a\nb');
      sh('btrfs', ['subvolume', 'create', weird]);
      const bad = s.cli(['backup', '--config', s.config, weird]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /line break/);
    },
    { sourceName: 'my data ü' },
  ),
);

test(
  'dry-run prints every change and makes none',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), 'x');
    const before = allSubvolumes(s);
    const r = s.cli(['backup', '--dry-run', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /would run: btrfs subvolume snapshot -r /);
    assert.match(r.stdout, /would run: btrfs send -q .* \| btrfs receive /);
    assert.equal(allSubvolumes(s), before);
    assert.deepEqual(readdirSync(s.dst.mountPoint), ['.token']);
  }),
);

test(
  'nested subvolumes are reported as not included; -S and -b work as in the original script',
  withScenario((s) => {
    sh('btrfs', ['subvolume', 'create', join(s.data, 'inner')]);
    writeFileSync(join(s.configDir, 'sources'), `# from the sources file\n${s.data}\n`);
    const r = s.cli(['-b', '-S', '--json', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    const src = json(r).sources;
    assert.equal(src.length, 1);
    assert.match(src[0].warnings[0], /nested subvolumes .*inner/);
  }),
);

test(
  'byte totals are exact, also for a stream too short to be sampled',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), 'x');
    const first = json(s.cli(['--json', '--config', s.config])).sources[0];
    const r = s.cli(['--force', '--config', s.config]); // nothing changed: a stream of a few hundred bytes
    assert.equal(r.code, 0, r.stderr);
    const name = /✔ .*: (\S+) \(incremental from [^)]+\), (\d+) B in [\d.]+ s\n/.exec(r.stdout);
    assert.ok(name, r.stdout);
    const srcDir = join(s.src.mountPoint, 'snapshots', sourceName(s.data));
    assert.equal(
      Number(name[2]),
      streamSize(['send', '-q', '-p', join(srcDir, first.snapshot), join(srcDir, name[1]!)]),
    );
  }),
);

test(
  'like / and /home with snapshots on /: a nested subvolume that is a source of its own, and its snapshots, bring no warning',
  withScenario((s) => {
    const inner = join(s.data, 'inner');
    sh('btrfs', ['subvolume', 'create', inner]);
    writeFileSync(join(inner, 'f'), 'x');
    writeFileSync(
      s.config,
      readFileSync(s.config, 'utf8')
        .replace(/^sources = .*$/m, `sources = ${JSON.stringify([s.data, inner])}`)
        .replace(/^snapshot_dir = .*$/m, `snapshot_dir = ${JSON.stringify(join(s.data, '.snapshots'))}`),
    );
    for (let run = 0; run < 2; run++) {
      const r = s.cli(['--json', '--config', s.config]);
      assert.equal(r.code, 0, r.stderr);
      const [outer, nested] = json(r).sources;
      assert.deepEqual([outer.status, nested.status], ['ok', 'ok']);
      assert.deepEqual(outer.warnings, [], `run ${run + 1}: ${outer.warnings}`);
    }
    // and a nested subvolume nobody backs up is still reported
    sh('btrfs', ['subvolume', 'create', join(s.data, 'stray')]);
    const r = s.cli(['--json', '--config', s.config]);
    assert.match(json(r).sources[0].warnings.join('\n'), /nested subvolumes .*stray/);
    assert.doesNotMatch(json(r).sources[0].warnings.join('\n'), /inner|\.snapshots/);
  }),
);

test(
  'latest pointing at different data on the two sides (as a crash between the link moves leaves it) is repaired, sent from the newest pair',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), '1');
    const a = json(s.cli(['--json', '--config', s.config])).sources[0].snapshot;
    writeFileSync(join(s.data, 'f'), '2');
    const b = json(s.cli(['--json', '--config', s.config])).sources[0].snapshot;
    const dstDir = join(s.dst.mountPoint, sourceName(s.data));
    const srcDir = join(s.src.mountPoint, 'snapshots', sourceName(s.data));
    sh('ln', ['-sfn', a, join(dstDir, 'latest')]);
    const r = s.cli(['--json', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    const out = json(r).sources[0];
    assert.equal(out.mode, 'incremental');
    assert.equal(out.parent, b, 'the newest pair, not the older one a stale link named');
    assert.match(out.warnings.join('\n'), /latest did not point at the newest pair/);
    for (const dir of [srcDir, dstDir]) assert.equal(readlinkSync(join(dir, 'latest')), out.snapshot);
    assert.deepEqual(tree(join(dstDir, 'latest')), tree(s.data));
  }),
);

test(
  'a source that has not changed gets no new snapshot and no transfer, unless --force',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), 'x');
    const first = json(s.cli(['--json', '--config', s.config])).sources[0];
    // (reading the folders may update atimes, so compare which subvolumes exist, not their generations)
    const names = () => allSubvolumes(s).replace(/ gen \d+/g, '');
    const before = names();
    const same = s.cli(['--json', '--config', s.config]);
    assert.equal(same.code, 0, same.stderr);
    assert.deepEqual([json(same).sources[0].mode, json(same).sources[0].snapshot], ['unchanged', first.snapshot]);
    assert.equal(names(), before, 'nothing made on either side');
    assert.match(s.cli(['--config', s.config]).stdout, /unchanged since \S+: no new snapshot \(--force makes one\)/);
    const forced = json(s.cli(['--json', '--force', '--config', s.config])).sources[0];
    assert.equal(forced.mode, 'incremental');
    writeFileSync(join(s.data, 'f'), 'y');
    assert.equal(json(s.cli(['--json', '--config', s.config])).sources[0].mode, 'incremental', 'a change is seen');
  }),
);

test(
  'a run with work lists each filesystem once (the target: all, and the read-only ones), whatever the sources and snapshots; one with nothing to do lists none; never a `subvolume show`, which walks every subvolume',
  withScenario((s) => {
    const other = join(s.src.mountPoint, 'other');
    sh('btrfs', ['subvolume', 'create', other]);
    writeFileSync(
      s.config,
      readFileSync(s.config, 'utf8').replace(
        /^sources = .*$/m,
        `sources = [${JSON.stringify(s.data)}, ${JSON.stringify(other)}]`,
      ),
    );
    for (let i = 0; i < 3; i++) assert.equal(s.cli(['--force', '--config', s.config]).code, 0);
    /** the run's btrfs commands (argv after "btrfs") and its modes */
    const traced = (name: string, args: string[]) => {
      const { out, btrfs } = tracedBtrfs(join(s.dir, name), BIN, ['--json', ...args, '--config', s.config]);
      return { btrfs, modes: JSON.parse(out).sources.map((r: { mode: string }) => r.mode) };
    };
    const flags = '-a -c -u -q -R';
    const once = [
      `subvolume list -r ${flags} -- ${s.dst.mountPoint}`,
      `subvolume list ${flags} -- ${s.dst.mountPoint}`,
      `subvolume list ${flags} -- ${s.src.mountPoint}`,
    ].sort();
    const same = traced('unchanged', []);
    assert.deepEqual(same.modes, ['unchanged', 'unchanged']);
    assert.deepEqual(same.btrfs.filter((a) => a.startsWith('subvolume list')).sort(), []);
    assert.deepEqual(
      same.btrfs.filter((a) => a.startsWith('subvolume show')),
      [],
    );
    // with work to do: each new snapshot and copy is read by one ioctl, not `show`
    const forced = traced('forced', ['--force']);
    assert.deepEqual(forced.modes, ['incremental', 'incremental']);
    assert.deepEqual(forced.btrfs.filter((a) => a.startsWith('subvolume list')).sort(), once);
    assert.deepEqual(
      forced.btrfs.filter((a) => a.startsWith('subvolume show')),
      [],
    );
    assert.equal(forced.btrfs.filter((a) => a.startsWith('receive')).length, 2, 'the trace sees the transfers');
  }),
);

test(
  'unchanged also when the snapshot folder is inside the source: it is a subvolume of its own, so snapshots and links do not change the source',
  withScenario((s) => {
    writeFileSync(
      s.config,
      readFileSync(s.config, 'utf8').replace(
        /^snapshot_dir = .*$/m,
        `snapshot_dir = ${JSON.stringify(join(s.data, '.snapshots'))}`,
      ),
    );
    writeFileSync(join(s.data, 'f'), 'x');
    const first = json(s.cli(['--json', '--config', s.config])).sources[0];
    assert.equal(first.mode, 'full');
    assert.match(
      sh('btrfs', ['subvolume', 'show', join(s.data, '.snapshots', sourceName(s.data))]),
      /Subvolume ID/,
      'the per-source folder is a subvolume',
    );
    const again = json(s.cli(['--json', '--config', s.config])).sources[0];
    assert.deepEqual([again.mode, again.warnings], ['unchanged', []]);
  }),
);

test(
  'one failing source does not stop the others; the exit status says so (1: something was written)',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), 'x');
    const r = s.cli(['backup', '--json', '--config', s.config, join(s.src.mountPoint, 'missing'), s.data]);
    assert.equal(r.code, 1);
    const [bad, good] = json(r).sources;
    assert.equal(bad.status, 'failed');
    assert.equal(good.status, 'ok');
    assert.ok(statSync(join(s.dst.mountPoint, sourceName(s.data), 'latest')).isDirectory());
  }),
);

test('--help answers without loading listr2 or inquirer', () => {
  const trace = join(process.cwd(), 'dist', 'help-trace.txt');
  const out = execFileSync(
    'strace',
    ['-f', '-e', 'trace=openat', '-o', trace, 'node', join(process.cwd(), 'bin/btrfs-vault.js'), '--help'],
    { encoding: 'utf8' },
  );
  assert.match(out, /Usage: btrfs-vault/);
  // the CLI is bundled: look into every file of the bundle that was opened
  const bundle = join(process.cwd(), 'dist', 'bundle');
  const opened = [
    ...new Set([...readFileSync(trace, 'utf8').matchAll(/openat\([^"]*"([^"]+\.c?js)"/g)].map((m) => m[1]!)),
  ].filter((f) => f.startsWith(bundle));
  assert.ok(opened.length > 0, 'the trace sees the bundle being loaded');
  const loaded = opened.map((f) => readFileSync(f, 'utf8')).join('\n');
  assert.match(loaded, /allowUnknownOption/, 'commander is in what was loaded');
  assert.doesNotMatch(loaded, /ListrTaskState|@inquirer/, 'listr2 and inquirer are not');
  // and the check can fail: the bundle does carry them, in the files --help left alone
  const all = readdirSync(bundle)
    .filter((f) => /\.c?js$/.test(f))
    .map((f) => readFileSync(join(bundle, f), 'utf8'));
  assert.ok(all.some((text) => /ListrTaskState/.test(text)) && all.some((text) => /@inquirer/.test(text)));
});

test('an installation without its bundle says how to build it (exit 70), not a stack trace', () => {
  const dir = scratchDir('nobuild');
  mkdirSync(join(dir, 'bin'));
  for (const f of readdirSync(join(process.cwd(), 'bin')))
    writeFileSync(join(dir, 'bin', f), readFileSync(join(process.cwd(), 'bin', f)));
  const r = spawnSync('node', [join(dir, 'bin', 'btrfs-vault.js'), '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 70);
  assert.match(r.stderr, /cannot load .*launch\.cjs/);
  assert.match(r.stderr, /fix: build it: npm run build/);
  assert.doesNotMatch(r.stderr, /at Module\./);
});

test(
  "the compiled code kept across starts (Node's compile cache, V8's code cache on Node 20) is root's alone; a dry-run writes none",
  withScenario((s) => {
    // a folder of this test's own: every other run on the machine writes to /var/cache/btrfs-vault
    const dir = join(s.dir, 'cache');
    const run = (args: string[]) => s.cli([...args, '--config', s.config], { BTRFS_VAULT_TEST_CACHE_DIR: dir });
    assert.equal(run(['backup', '--dry-run']).code, 0);
    assert.ok(!existsSync(dir), 'a dry-run writes nothing, not even a cache');
    assert.equal(run(['list']).code, 0);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const made = readdirSync(dir, { recursive: true }) as string[];
    assert.ok(made.length > 0, 'the run left its compiled code');
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    if (major < 22 || (major === 22 && minor < 1)) {
      // one file per bundle the run loaded, named by the bundle's hash, root's alone
      assert.deepEqual(made.map((f) => f.replace(/\.[0-9a-f]{32}\./, '.HASH.')).sort(), [
        'cli.cjs.HASH.v8',
        'commands.cjs.HASH.v8',
      ]);
      for (const f of made) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600);
      // a cache of an earlier build goes when this build's is written; what is not ours stays
      const stale = join(dir, `cli.cjs.${'0'.repeat(32)}.v8`);
      const notOurs = join(dir, 'notes.txt');
      writeFileSync(stale, 'old');
      writeFileSync(notOurs, 'mine');
      rmSync(
        join(
          dir,
          made.find((f) => f.startsWith('cli.cjs'))!,
        ),
      );
      assert.equal(run(['list']).code, 0);
      assert.ok(!existsSync(stale), "an earlier build's cache is removed");
      assert.ok(existsSync(notOurs), 'a file that is not a cache of ours stays');
      // a corrupt cache is refused by V8 and written again; the run is not disturbed
      const cli = join(
        dir,
        readdirSync(dir).find((f) => f.startsWith('cli.cjs'))!,
      );
      writeFileSync(cli, Buffer.alloc(4096, 7));
      assert.equal(run(['list']).code, 0);
      assert.notDeepEqual(readFileSync(cli), Buffer.alloc(4096, 7), 'the corrupt cache was replaced');
    }
  }),
);

test(
  'open and close a plain btrfs target by its device: idempotent, and a wrong token closes it again',
  withScenario((s) => {
    sh('umount', [s.dst.mountPoint]);
    writeFileSync(
      s.config,
      readFileSync(s.config, 'utf8').replace('[target]\n', `[target]\ndevice = ${JSON.stringify(s.dst.device)}\n`),
    );
    const mounted = () => readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${s.dst.mountPoint} `);
    const opened = json(s.cli(['open', '--json', '--config', s.config]));
    assert.deepEqual(opened.steps, [
      { layer: 'filesystem', outcome: 'opened' },
      { layer: 'token', outcome: 'already-open' },
    ]);
    assert.ok(mounted());
    assert.ok(opened.space.free > 0);
    const again = json(s.cli(['-o', '--json', '--config', s.config]));
    assert.deepEqual(
      again.steps.map((x: { outcome: string }) => x.outcome),
      ['already-open', 'already-open'],
    );
    json(s.cli(['close', '--json', '--config', s.config]));
    assert.ok(!mounted());
    const twice = json(s.cli(['-c', '--json', '--config', s.config]));
    assert.deepEqual(
      twice.steps.map((x: { outcome: string }) => x.outcome),
      ['already-closed', 'already-closed'],
    );
    // backup opens what it needs and closes it again
    writeFileSync(join(s.data, 'f'), 'x');
    assert.equal(s.cli(['--config', s.config]).code, 0);
    assert.ok(!mounted(), 'backup closed what it opened');
    assert.equal(s.cli(['-b', '--config', s.config]).code, 0);
    assert.ok(mounted(), '-b keeps it open');
    sh('umount', [s.dst.mountPoint]);
    sh('mount', [s.dst.device, s.dst.mountPoint]);
    writeFileSync(join(s.dst.mountPoint, '.token'), 'foreign');
    sh('umount', [s.dst.mountPoint]);
    const refused = s.cli(['open', '--config', s.config]);
    assert.equal(refused.code, 3);
    assert.ok(!mounted(), 'a refused disk is closed again');
  }),
);

test(
  'in a log: plain timestamped lines; on a terminal: live progress, the task list, and the whole run against what the last run sent',
  withScenario((s) => {
    execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, 'big.bin')}`, 'bs=1M', 'count=150', 'status=none']);
    const log = s.cli(['backup', '--config', s.config]);
    assert.match(log.stdout, /^\S+ \[\d{2}:\d{2}:\d{2}\] /m, 'timestamped lines without a terminal');
    assert.doesNotMatch(log.stdout, /\x1b\[/, 'no escape sequences in a log (NO_COLOR, no terminal)');
    execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, 'big2.bin')}`, 'bs=1M', 'count=150', 'status=none']);
    // a pty with a size, as a terminal window has
    const cmd = `stty cols 200 rows 40; node ${join(process.cwd(), 'bin/btrfs-vault.js')} backup --config ${s.config}`;
    const screen = execFileSync('script', ['-qfec', cmd, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, CI: '', TERM: 'xterm-256color' },
    });
    assert.match(screen, /MiB sent, [\d.]+ (MiB|GiB)\/s, [\d.]+ s elapsed/, 'live progress with bytes, rate, elapsed');
    assert.match(
      screen,
      /the whole run: [\d.]+ MiB of about 15\d\.\d MiB \(\d+%\)/,
      'the whole run, estimated from the last run',
    );
    assert.match(screen, /\x1b\[/, 'a redrawing renderer on a terminal');
  }),
);

test(
  'a compressed backup filesystem gets compressed extents as they are (send protocol 2): a much smaller stream, the same data',
  withScenario((s) => {
    for (const m of [s.src.mountPoint, s.dst.mountPoint]) sh('mount', ['-o', 'remount,compress=zstd', m]);
    const lines = Array.from(
      { length: 3000 },
      (_, i) => `log line ${i} the same words again and again ${i % 17}\n`,
    ).join('');
    writeFileSync(join(s.data, 'app.log'), lines.repeat(30));
    sh('sync', []);
    const r = s.cli(['--json', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    const b = json(r).sources[0];
    const snap = join(s.src.mountPoint, 'snapshots', sourceName(s.data), b.snapshot);
    const plain = streamSize(['send', '-q', snap]);
    assert.ok(b.bytes * 4 < plain, `sent ${b.bytes} bytes where a plain send is ${plain}`);
    assert.deepEqual(tree(join(s.dst.mountPoint, sourceName(s.data), 'latest')), tree(snap));
  }),
);
