import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { cli } from '../../support/cli.js';
import { sh } from '../../support/sh.js';
import { tree } from '../../support/tree.js';
import { vmDisk, type Scenario } from './support.js';
import { answers, backupWorks, DATA, freshHost, MP, ok, PRODUCTION_KDF, source, withSources } from './setup-fixture.js';

/** A setup killed half-way (bv-r), on a fresh host, with the production key derivation. */
export const ETC_RESUME = '/bv-out/etc-resume';
export const resume: Scenario[] = [
  [
    'a setup killed half-way is resumed',
    async (notes) => {
      freshHost();
      const config = join(ETC_RESUME, 'config.toml');
      source();
      const file = answers('/tmp/a.toml', 'bv-r');
      // where the time goes (argon2 under emulation): seconds of each part, in the notes
      let t = Date.now();
      const lap = (what: string): void => {
        notes.push(`${what} ${((Date.now() - t) / 1000).toFixed(1)} s`);
        t = Date.now();
      };
      // its own process group, killed whole: cryptsetup dies with it, as at a power cut
      const child = spawn(
        'node',
        ['dist/test-bundle/btrfs-vault.cjs', 'setup', '--answers', file, '--config', config, '--host', 'vmhost'],
        { stdio: 'ignore', detached: true, env: { ...process.env, ...PRODUCTION_KDF } },
      );
      const end = Date.now() + 120_000;
      // stop it right after LUKS is formatted, before the keyfile is added
      while (!(existsSync('/dev/md/backup') && spawnSync('cryptsetup', ['isLuks', '/dev/md/backup']).status === 0)) {
        if (Date.now() > end) throw new Error('setup never got as far as LUKS');
        await new Promise((r) => setTimeout(r, 100));
      }
      process.kill(-child.pid!, 'SIGKILL');
      await new Promise((r) => child.on('close', r));
      lap('killed after');
      notes.push(
        `killed with state: ${readFileSync(join(ETC_RESUME, 'setup-state.json'), 'utf8').replace(/\s+/g, ' ')}`,
      );
      // meanwhile a foreign filesystem was mounted where the backup disk goes: the resume refuses
      mkdirSync(MP, { recursive: true });
      sh('mount', [vmDisk('bv-src'), MP]);
      const refused = cli(['setup', '--answers', file, '--config', config, '--host', 'vmhost'], PRODUCTION_KDF);
      sh('umount', [MP]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /already has .* mounted on it, not this host's backup volume/);
      lap('refused');
      const out = ok(cli(['setup', '--answers', file, '--config', config, '--host', 'vmhost'], PRODUCTION_KDF));
      lap('resumed setup');
      assert.match(out, /resuming the setup/);
      assert.ok(!existsSync(join(ETC_RESUME, 'setup-state.json')), 'the state file is gone when setup is through');
      withSources(config, 'snapshots-resume');
      backupWorks(config);
      lap('backup');
      ok(cli(['open', '--config', config]));
      assert.deepEqual(tree(join(MP, 'data', 'latest')), tree(DATA));
      ok(cli(['close', '--config', config]));
    },
  ],
];
