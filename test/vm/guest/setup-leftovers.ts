import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MDADM_CONF } from '../../../src/stack/array-state.js';
import { cli } from '../../support/cli.js';
import { sh } from '../../support/sh.js';
import type { Scenario } from './support.js';
import { answers, freshHost, MP, oldStack, ok } from './setup-fixture.js';

/** A disk with leftovers of an earlier stack (bv-o), on a fresh host. */
const ETC_LEFTOVERS = '/bv-out/etc-leftovers';
export const leftovers: Scenario[] = [
  [
    'a disk with leftovers of an earlier stack is refused, then wiped properly and set up',
    async () => {
      freshHost();
      const config = join(ETC_LEFTOVERS, 'config.toml');
      const oldUuid = await oldStack('bv-o');
      // this host knew the old array: its ARRAY line is replaced by the new one's, not kept beside it
      const conf = () => (existsSync(MDADM_CONF) ? readFileSync(MDADM_CONF, 'utf8') : '');
      mkdirSync('/etc/mdadm', { recursive: true });
      // the old array's line only: the other disks of this boot carry arrays of the same name
      const oldLine = sh('mdadm', ['--examine', '--scan'])
        .split('\n')
        .filter((l) => l.includes(`UUID=${oldUuid}`));
      assert.equal(oldLine.length, 1, 'the old array is found on its disk');
      writeFileSync(MDADM_CONF, `${conf()}${oldLine[0]}\n`);
      assert.match(conf(), new RegExp(`^ARRAY /dev/md/backup .*UUID=${oldUuid}`, 'm'));
      const refused = cli([
        'setup',
        '--answers',
        answers('/tmp/a.toml', 'bv-o'),
        '--config',
        config,
        '--host',
        'vmhost',
      ]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /not empty.*an mdadm RAID member.*wipe_existing = true/s);
      ok(
        cli([
          'setup',
          '--answers',
          answers('/tmp/a.toml', 'bv-o', 'wipe_existing = true\n'),
          '--config',
          config,
          '--host',
          'vmhost',
        ]),
      );
      const lines = conf()
        .split('\n')
        .filter((l) => l.startsWith('ARRAY /dev/md/backup '));
      assert.equal(lines.length, 1, `one line for the name:\n${conf()}`);
      const newUuid = /UUID=(\S+)/.exec(lines[0]!)![1];
      assert.notEqual(newUuid, oldUuid, 'a new array');
      ok(cli(['open', '--config', config]));
      assert.notEqual(sh('lvs', ['--noheadings', '-o', 'lv_name', 'backup']).trim(), 'oldhost');
      assert.equal(sh('lvs', ['--noheadings', '-o', 'lv_name', 'backup']).trim(), 'vmhost');
      assert.equal(sh('ls', ['-A', MP]).trim(), '.token');
      ok(cli(['close', '--config', config]));
    },
  ],
];
