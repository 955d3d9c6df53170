import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withScenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { scratchDir } from '../support/scratch.js';

// As a user installs it: npm pack (its prepack builds; here the suite has built already,
// so scripts are skipped rather than rebuilding under the running tests), then npm install -g of the tarball
// into an empty prefix. The package carries its bundled code and needs nothing else.
before(() => requireRoot());

test(
  'npm pack, then npm install -g of the tarball: a working btrfs-vault with no dependencies to fetch',
  withScenario((s) => {
    const dir = scratchDir('pack');
    const tarball = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .at(-1)!;
    const prefix = join(dir, 'prefix');
    execFileSync(
      'npm',
      ['install', '--global', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, join(dir, tarball)],
      { stdio: 'ignore' },
    );
    const installed = join(prefix, 'lib/node_modules/btrfs-vault');
    assert.deepEqual(
      readdirSync(installed).sort(),
      ['LICENSE', 'README.md', 'bin', 'dist', 'docs', 'package.json'],
      'the code and the docs the README and the man page name, nothing else',
    );
    const bin = join(prefix, 'bin', 'btrfs-vault');
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    assert.equal(spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim(), version);
    // package.json's man: npm links the man page into the prefix
    assert.ok(existsSync(join(prefix, 'share/man/man8/btrfs-vault.8')), 'man page installed');
    writeFileSync(join(s.data, 'f'), 'installed');
    const r = spawnSync(bin, ['backup', '--json', '--config', s.config], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).sources[0].mode, 'full');
  }),
);
