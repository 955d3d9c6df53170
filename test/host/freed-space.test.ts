import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, withScenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { BIN } from '../support/cli.js';
import { sh } from '../support/sh.js';

// btrfs-progs' `subvolume sync` looks at the cleaner once a second: a wait per side and
// source cost prune and backup seconds. What retention deletes on the backup disk is
// waited for once a run; the source's space comes back in the background.
before(() => requireRoot());

test(
  "prune of two sources waits once for the backup disk's freed space (all their IDs), not per side and source",
  withScenario((s) => {
    const other = join(s.src.mountPoint, 'other');
    sh('btrfs', ['subvolume', 'create', other]);
    const config = readFileSync(s.config, 'utf8').replace(
      /^sources = .*$/m,
      `sources = [${JSON.stringify(s.data)}, ${JSON.stringify(other)}]`,
    );
    writeFileSync(s.config, config);
    for (let i = 0; i < 3; i++) assert.equal(s.cli(['--force', '--config', s.config]).code, 0);
    const zero = 'keep_last = 1\nhourly = 0\ndaily = 0\nweekly = 0\nmonthly = 0\n';
    writeFileSync(s.config, `${config}\n[retention.source]\n${zero}[retention.target]\n${zero}`);
    const traces = join(s.dir, 'trace');
    mkdirSync(traces);
    const out = execFileSync(
      'strace',
      [
        '-ff',
        '-qq',
        '-e',
        'trace=execve',
        '-e',
        'signal=none',
        '-o',
        join(traces, 't'),
        'node',
        BIN,
        'prune',
        '--json',
        '--config',
        s.config,
      ],
      { encoding: 'utf8' },
    );
    const report = JSON.parse(out);
    assert.deepEqual(
      report.sources.map((r: { deleted: { source: string[]; target: string[] } }) => [
        r.deleted.source.length,
        r.deleted.target.length,
      ]),
      [
        [2, 2],
        [2, 2],
      ],
    );
    const waits = readdirSync(traces)
      .flatMap((f) => readFileSync(join(traces, f), 'utf8').split('\n'))
      .filter((l) => / = 0$/.test(l) && /execve\("[^"]*\/btrfs", \["btrfs", "subvolume", "sync"/.test(l));
    assert.equal(waits.length, 1, waits.join('\n'));
    assert.match(
      waits[0]!,
      new RegExp(`"--", "${s.dst.mountPoint}"(, "\\d+"){4}\\]`),
      'the target, with the four deleted backups',
    );
    // and nothing is left for a later run to wait for: a backup now has nothing to delete
    assert.deepEqual(
      json(s.cli(['--json', '--config', s.config])).sources.map(
        (r: { pruned?: { target: string[] } }) => r.pruned?.target.length ?? 0,
      ),
      [0, 0],
    );
  }),
);
